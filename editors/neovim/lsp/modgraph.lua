-- modgraph language server: stale imports and duplicate module instances in JS/TS workspaces.
--
--   vim.lsp.enable('modgraph')
--
-- Override any field with vim.lsp.config('modgraph', { ... }). The binary is
-- `vim.g.modgraph_server_path` when set (read when this configuration is first resolved),
-- else `modgraph` from PATH.

---@type vim.lsp.Config
return {
  cmd = { vim.g.modgraph_server_path or 'modgraph', 'lsp', '--stdio' },
  filetypes = { 'javascript', 'javascriptreact', 'typescript', 'typescriptreact' },
  -- A modgraph.json anywhere above wins (put one at a monorepo's root to check it as one
  -- workspace); otherwise the nearest package.json, otherwise the repository.
  root_markers = { 'modgraph.json', 'package.json', '.git' },
  -- Settings take the keys of modgraph.json ({ rules = …, ignore = …, conditions = … }) and,
  -- when given, take its place. Empty: the server reads modgraph.json.
  settings = {},
  before_init = function(params)
    -- Neovim 0.11 pulls diagnostics only for visible buffers and ignores
    -- workspace/diagnostic/refresh, so an edit in one file would not update the diagnostics of
    -- the files importing it. Without this capability the server pushes diagnostics for every
    -- affected file, open or not.
    if params.capabilities and params.capabilities.textDocument then
      params.capabilities.textDocument.diagnostic = nil
    end
  end,
}

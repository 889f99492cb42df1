-- The screen shown in editors/neovim/README.md: the fixture workspace with modgraph's
-- diagnostics, a diagnostic float, and :ModgraphDependents in the quickfix list.
local client_dir, workspace, binary = vim.g.demo_client_dir, vim.g.demo_workspace, vim.g.demo_binary

vim.opt.runtimepath:prepend(client_dir)
vim.cmd('filetype plugin on')
vim.cmd('syntax on')
vim.cmd('runtime plugin/modgraph.lua')
vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = 'yes'
vim.o.hidden = true
vim.o.swapfile = false
vim.o.laststatus = 2
vim.o.showmode = false
vim.diagnostic.config({ virtual_text = true, severity_sort = true })

vim.g.modgraph_server_path = binary
vim.lsp.enable('modgraph')
vim.cmd.cd(workspace)

local function wait(what, condition)
  assert(vim.wait(30000, condition, 20), 'timed out waiting for ' .. what)
end

vim.cmd.edit('src/dates.js')
wait('the server', function()
  local c = vim.lsp.get_clients({ bufnr = 0, name = 'modgraph' })[1]
  return c and c.initialized
end)
vim.cmd('ModgraphDependents')
wait('the quickfix list', function()
  return #vim.fn.getqflist() == 3
end)
vim.cmd('wincmd k')
vim.cmd.edit('src/main.js')
wait('diagnostics', function()
  return #vim.diagnostic.get(0) == 2
end)
-- Diagnostics of a buffer loaded after they arrived are drawn on a later tick.
wait('signs', function()
  return #vim.api.nvim_buf_get_extmarks(0, -1, 0, -1, { type = 'sign' }) >= 2
end)
vim.cmd('echo ":ModgraphDependents  (on src/dates.js)"')
vim.api.nvim_win_set_cursor(0, { 2, 22 })
local _, float = vim.diagnostic.open_float({ scope = 'line', border = 'rounded', max_width = 64 })
vim.wo[float].linebreak = true
vim.cmd('redraw')
vim.rpcnotify(0, 'demo_ready')

-- User commands of the modgraph Neovim client. The language server itself starts through
-- vim.lsp.enable('modgraph') (see lsp/modgraph.lua).
if vim.g.loaded_modgraph then
  return
end
vim.g.loaded_modgraph = true
if vim.fn.has('nvim-0.11') == 0 then
  vim.notify_once('modgraph: the Neovim client needs Neovim 0.11 or newer', vim.log.levels.WARN)
  return
end

local command = vim.api.nvim_create_user_command

command('ModgraphDependents', function()
  require('modgraph').show_closure('dependents')
end, { desc = 'modgraph: the modules that import this file, directly or not (quickfix)' })

command('ModgraphDependencies', function()
  require('modgraph').show_closure('dependencies')
end, { desc = 'modgraph: the modules this file loads, directly or not (quickfix)' })

command('ModgraphGraph', function(args)
  local format, depth = args.fargs[1], tonumber(args.fargs[2])
  if format and not vim.list_contains({ 'mermaid', 'dot', 'json' }, format) then
    vim.notify('modgraph: format is mermaid, dot or json', vim.log.levels.ERROR)
    return
  end
  require('modgraph').graph(0, format, depth)
end, {
  nargs = '*',
  complete = function(_, line)
    return #vim.split(line, '%s+') <= 2 and { 'mermaid', 'dot', 'json' } or {}
  end,
  desc = 'modgraph: the modules around this file ([mermaid|dot|json] [depth])',
})

command('ModgraphReload', function(args)
  local file = nil -- the current file
  if args.bang then
    file = false -- everything outdated
  elseif args.args ~= '' then
    file = vim.fn.expand(args.args)
  end
  require('modgraph').reload(0, file)
end, {
  nargs = '?',
  bang = true,
  complete = 'file',
  desc = 'modgraph: reload this file (or [file]) and its dependents in the running app; ! reloads everything outdated',
})

command('ModgraphRuntimes', function()
  require('modgraph').runtimes(0)
end, { desc = 'modgraph: the Node processes (modgraph run) attached to the language server' })

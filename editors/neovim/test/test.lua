-- End-to-end test of the Neovim client against the real modgraph server.
--
--   nvim --headless -u NONE -i NONE -n -l test.lua <client dir> <workspace copy> <modgraph binary>
--
-- Prints one line per step; exits non-zero with the reason on the first failure.

local client_dir, workspace, binary = _G.arg[1], _G.arg[2], _G.arg[3]
assert(client_dir and workspace and binary, 'usage: test.lua <client dir> <workspace> <binary>')

local TIMEOUT = 30000 -- ms; vim.wait returns as soon as the condition holds

local notifications = {}
vim.notify = function(message, level)
  notifications[#notifications + 1] = { message = message, level = level }
  io.stdout:write(('  notify[%s]: %s\n'):format(level or '-', message))
end
vim.ui.select = function(items)
  error(('a selection of %d items was offered where one action was expected'):format(#items))
end

local passed = 0
local function step(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    io.stdout:write(('not ok - %s\n%s\n'):format(name, err))
    io.stdout:write('LSP log: ' .. vim.lsp.log.get_filename() .. '\n')
    os.exit(1)
  end
  passed = passed + 1
  io.stdout:write(('ok %d - %s\n'):format(passed, name))
end

local function fail(message, ...)
  error(message:format(...), 2)
end

local function wait_for(what, condition)
  if not vim.wait(TIMEOUT, condition, 20) then
    fail('timed out after %d ms waiting for %s', TIMEOUT, what)
  end
end

local function path(rel)
  return workspace .. '/' .. rel
end

local function bufnr_of(rel)
  return vim.uri_to_bufnr(vim.uri_from_fname(path(rel)))
end

--- "code@line" of every modgraph diagnostic of a file, sorted.
local function diagnostics(rel)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr_of(rel))) do
    if d.source == 'modgraph' or tostring(d.code):find('/') then
      out[#out + 1] = ('%s@%d'):format(d.code, d.lnum + 1)
    end
  end
  table.sort(out)
  return out
end

local function same(a, b)
  return vim.deep_equal(a, b)
end

local function show(list)
  return '{' .. table.concat(list, ', ') .. '}'
end

local function expect_diagnostics(rel, expected)
  local ok = vim.wait(TIMEOUT, function()
    return same(diagnostics(rel), expected)
  end, 20)
  if not ok then
    fail('%s: expected diagnostics %s, have %s', rel, show(expected), show(diagnostics(rel)))
  end
end

local function quickfix_files()
  local files = {}
  for _, item in ipairs(vim.fn.getqflist()) do
    files[#files + 1] = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(item.bufnr), ':.')
  end
  table.sort(files)
  return files
end

-- The client as a user installs it: on the runtimepath, plugin sourced, server enabled.
vim.opt.runtimepath:prepend(client_dir)
vim.cmd('filetype on')
vim.cmd('runtime plugin/modgraph.lua')
vim.o.hidden = true
vim.o.swapfile = false
vim.g.modgraph_server_path = binary
vim.lsp.enable('modgraph')
vim.cmd.cd(workspace)

local main_buf, client

step('opening src/main.js starts modgraph at the package root', function()
  vim.cmd.edit(path('src/main.js'))
  main_buf = vim.api.nvim_get_current_buf()
  if vim.bo[main_buf].filetype ~= 'javascript' then
    fail('filetype is %q', vim.bo[main_buf].filetype)
  end
  wait_for('the modgraph client to attach and initialize', function()
    client = vim.lsp.get_clients({ bufnr = main_buf, name = 'modgraph' })[1]
    return client ~= nil and client.initialized
  end)
  if client.root_dir ~= workspace then
    fail('root_dir is %s, expected %s', tostring(client.root_dir), workspace)
  end
  if client.config.cmd[1] ~= binary then
    fail('server command is %s', table.concat(client.config.cmd, ' '))
  end
  -- Diagnostics are pushed (see lsp/modgraph.lua), so files that are not open get them too.
  if client.server_capabilities.diagnosticProvider then
    fail('the server went into pull mode: diagnostics of files that are not open would be lost')
  end
end)

step('diagnostics: missing export and letter-case mismatch in src/main.js', function()
  expect_diagnostics('src/main.js', {
    'duplicate-module/case-mismatch@2',
    'stale-import/missing-export@1',
  })
  expect_diagnostics('src/report.js', {})
end)

step('the letter-case quick fix applies through vim.lsp.buf.code_action', function()
  local target
  for _, d in ipairs(vim.diagnostic.get(main_buf)) do
    if d.code == 'duplicate-module/case-mismatch' then
      target = d
    end
  end
  vim.api.nvim_win_set_cursor(0, { target.lnum + 1, target.col })
  local offered = {}
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      offered[#offered + 1] = action.title
      return action.kind == 'quickfix'
        and vim.iter(action.diagnostics or {}):any(function(d)
          return d.code == 'duplicate-module/case-mismatch'
        end)
    end,
  })
  wait_for("the import to read './greeting.js'", function()
    return vim.api.nvim_buf_get_lines(main_buf, 1, 2, true)[1]
      == "import { greet } from './greeting.js';"
  end)
  io.stdout:write('  actions offered: ' .. table.concat(offered, ' | ') .. '\n')
  expect_diagnostics('src/main.js', { 'stale-import/missing-export@1' })
end)

step('an unsaved edit of src/dates.js updates the diagnostics of its importers', function()
  vim.cmd.edit(path('src/dates.js'))
  local dates_buf = vim.api.nvim_get_current_buf()
  local line = vim.api.nvim_buf_get_lines(dates_buf, 0, 1, true)[1]
  vim.api.nvim_buf_set_lines(dates_buf, 0, 1, true, { (line:gsub('formatDay', 'formatDate')) })
  -- src/main.js (open, hidden) is fixed; src/report.js (never opened) breaks.
  expect_diagnostics('src/main.js', {})
  expect_diagnostics('src/report.js', { 'stale-import/missing-export@1' })
  if vim.fn.readfile(path('src/dates.js'))[1]:find('formatDate') then
    fail('the edit reached the disk; the test must exercise the unsaved buffer')
  end
end)

step(':ModgraphDependents lists every module that imports src/dates.js', function()
  vim.fn.setqflist({}, 'f')
  vim.cmd('ModgraphDependents')
  wait_for('the quickfix list', function()
    return vim.fn.getqflist({ title = 1 }).title:find('dependents of src/dates.js') ~= nil
  end)
  local files = quickfix_files()
  local expected = { 'src/index.js', 'src/main.js', 'src/report.js' }
  if not same(files, expected) then
    fail('quickfix has %s, expected %s', show(files), show(expected))
  end
  io.stdout:write('  ' .. vim.fn.getqflist({ title = 1 }).title .. '\n')
  vim.cmd('cclose')
end)

step(':ModgraphDependencies lists what src/main.js loads', function()
  vim.cmd.buffer(main_buf)
  vim.fn.setqflist({}, 'f')
  vim.cmd('ModgraphDependencies')
  wait_for('the quickfix list', function()
    return vim.fn.getqflist({ title = 1 }).title:find('dependencies of src/main.js') ~= nil
  end)
  local files = quickfix_files()
  local expected = { 'src/dates.js', 'src/greeting.js' }
  if not same(files, expected) then
    fail('quickfix has %s, expected %s', show(files), show(expected))
  end
  vim.cmd('cclose')
end)

step(':ModgraphGraph shows the mermaid graph around src/main.js in a scratch buffer', function()
  vim.cmd('ModgraphGraph')
  local scratch
  wait_for('the graph buffer', function()
    local name = vim.api.nvim_buf_get_name(0)
    if name:find('modgraph://mermaid/', 1, true) then
      scratch = vim.api.nvim_get_current_buf()
      return true
    end
  end)
  local text = table.concat(vim.api.nvim_buf_get_lines(scratch, 0, -1, true), '\n')
  for _, needle in ipairs({ 'src/main.js', 'src/dates.js', 'src/greeting.js', 'src/index.js' }) do
    if not text:find(needle, 1, true) then
      fail('graph lacks %s:\n%s', needle, text)
    end
  end
  if vim.bo[scratch].buftype ~= 'nofile' or vim.bo[scratch].filetype ~= 'mermaid' then
    fail('graph buffer is buftype=%s filetype=%s', vim.bo[scratch].buftype, vim.bo[scratch].filetype)
  end
  vim.cmd('close')
end)

-- TODO(issue 5): the end-to-end reload against an app under `modgraph run` (start the app, edit
-- a module, :ModgraphReload, check that the app runs the new code and its dependents were
-- re-evaluated) goes here once the server has modgraph.reloadSubgraph. Until then the step
-- below checks what a user sees today, and the run prints TODO.
if require('modgraph').supports(client, 'modgraph.reloadSubgraph') then
  io.stdout:write('TODO - :ModgraphReload against an app under `modgraph run` is not tested\n')
else
  step(":ModgraphReload shows the server's refusal of a command it does not have", function()
    local before = #notifications
    vim.cmd('ModgraphReload')
    wait_for('the message about the unknown command', function()
      return #notifications > before
    end)
    local note = notifications[#notifications]
    local expected = 'modgraph: modgraph.reloadSubgraph is not supported by this modgraph server'
      .. ' (it answered: unknown command modgraph.reloadSubgraph)'
    if note.message ~= expected or note.level ~= vim.log.levels.ERROR then
      fail('message was [%s] %q', tostring(note.level), note.message)
    end
  end)
  io.stdout:write('TODO - :ModgraphReload against an app under `modgraph run` is not tested\n')
end

step(':checkhealth modgraph reports the binary, its version and the running server', function()
  vim.cmd.buffer(main_buf)
  vim.cmd('checkhealth modgraph')
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, true)
  local text = table.concat(lines, '\n')
  io.stdout:write('\n  | ' .. table.concat(lines, '\n  | ') .. '\n')
  local version = vim.trim(vim.system({ binary, '--version' }, { text = true }):wait().stdout)
  for _, needle in ipairs({
    '- ✅ OK binary: ' .. binary,
    '- ✅ OK version: ' .. version,
    '- ✅ OK enabled',
    '- ✅ OK running for src/main.js',
    'runtimes:',
  }) do
    if not text:find(needle, 1, true) then
      fail('checkhealth lacks %q', needle)
    end
  end
  if text:find('ERROR') then
    fail('checkhealth reports an error')
  end
  vim.cmd('tabclose')
end)

step('settings from vim.lsp.config reach the server (rule levels)', function()
  vim.lsp.enable('modgraph', false)
  wait_for('the first client to stop', function()
    return #vim.lsp.get_clients({ name = 'modgraph' }) == 0
  end)
  vim.lsp.config('modgraph', {
    settings = { modgraph = { rules = { ['stale-import/missing-export'] = 'warning' } } },
  })
  vim.lsp.enable('modgraph')
  wait_for('a new client', function()
    local c = vim.lsp.get_clients({ bufnr = main_buf, name = 'modgraph' })[1]
    if c and c.id ~= client.id and c.initialized then
      client = c
      return true
    end
  end)
  -- The open buffers are sent again, so the unsaved edit of src/dates.js still counts.
  local function severity()
    local d = vim.diagnostic.get(bufnr_of('src/report.js'))[1]
    return d and d.code == 'stale-import/missing-export' and d.severity
  end
  wait_for('src/report.js to report missing-export as a warning', function()
    return severity() == vim.diagnostic.severity.WARN
  end)
end)

io.stdout:write(('all %d steps passed\n'):format(passed))
vim.lsp.stop_client(client.id, true)
os.exit(0)

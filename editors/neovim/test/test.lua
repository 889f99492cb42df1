-- End-to-end test of the Neovim client against the real modgraph server.
--
--   nvim --headless -u NONE -i NONE -n -l test.lua <client dir> <workspace copy> <modgraph binary>
--
-- Prints one line per step; exits non-zero with the reason on the first failure.

local client_dir, workspace, binary = _G.arg[1], _G.arg[2], _G.arg[3]
assert(client_dir and workspace and binary, 'usage: test.lua <client dir> <workspace> <binary>')

local TIMEOUT = 30000 -- ms; vim.wait returns as soon as the condition holds

-- The server finds apps under `modgraph run` through records in $XDG_RUNTIME_DIR/modgraph:
-- test/run points it at a folder of its own, for the app and the server alike, so the test
-- never attaches to the user's processes.
local runtime_dir = vim.env.XDG_RUNTIME_DIR
assert(
  runtime_dir and runtime_dir ~= '' and vim.startswith(runtime_dir, vim.fs.dirname(workspace)),
  'XDG_RUNTIME_DIR must be a folder of this test run (test/run sets it)'
)

-- What the server logs (window/logMessage), besides Neovim's LSP log.
local server_log = {}
local log_message = vim.lsp.handlers['window/logMessage']
vim.lsp.handlers['window/logMessage'] = function(err, result, ctx, config)
  if type(result) == 'table' and type(result.message) == 'string' then
    server_log[#server_log + 1] = result.message
  end
  return log_message(err, result, ctx, config)
end

-- Run before exiting, also on a failure (the app under `modgraph run`).
local cleanups = {}
local function clean_up()
  for i = #cleanups, 1, -1 do
    pcall(cleanups[i])
  end
  cleanups = {}
end

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
    clean_up()
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

local function has_code(rel, code)
  return vim.iter(diagnostics(rel)):any(function(d)
    return vim.startswith(d, code .. '@')
  end)
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

step('a command the server does not have is shown as one message', function()
  local before = #notifications
  require('modgraph').exec(client, 'modgraph.noSuchCommand', {}, main_buf, function()
    fail('the server accepted modgraph.noSuchCommand')
  end)
  wait_for('the message about the unknown command', function()
    return #notifications > before
  end)
  local note = notifications[#notifications]
  local expected = 'modgraph: modgraph.noSuchCommand is not supported by this modgraph server'
    .. ' (it answered: unknown command modgraph.noSuchCommand)'
  if note.message ~= expected or note.level ~= vim.log.levels.ERROR then
    fail('message was [%s] %q', tostring(note.level), note.message)
  end
end)

-- An app under `modgraph run --no-watch`: it reloads only when Neovim asks. src/app.js answers
-- "probe" on stdin with `state: view(<banner>)`, where src/view.js computes the banner from
-- src/greeting.js once, when it is evaluated: a new greeting shows only if the reload evaluated
-- the importer again.
local app = { states = {}, pending = '', stderr = '' }

--- The last notification after `before`, once one came.
local function next_notification(what, before)
  wait_for(what, function()
    return #notifications > before
  end)
  return notifications[#notifications]
end

local function probe()
  local before = #app.states
  app.process:write('probe\n')
  wait_for('the app to answer a probe', function()
    return #app.states > before or app.exited ~= nil
  end)
  if app.exited then
    fail('the app exited (%s): %s', vim.inspect(app.exited), app.stderr)
  end
  return app.states[#app.states]
end

local function list_runtimes()
  local response = client:request_sync(
    'workspace/executeCommand',
    { command = 'modgraph.listRuntimes', arguments = {} },
    TIMEOUT
  )
  if not response or response.err then
    fail('modgraph.listRuntimes failed: %s', vim.inspect(response))
  end
  return response.result
end

local function edit_greeting(buf, word)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
  for i, line in ipairs(lines) do
    lines[i] = line:gsub('`%a+, ', '`' .. word .. ', ')
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, true, lines)
  vim.cmd('silent write')
end

step('an app started with `modgraph run --no-watch` attaches to the server', function()
  local before = #notifications
  vim.cmd('ModgraphRuntimes')
  local note = next_notification(':ModgraphRuntimes', before)
  if not note.message:find('no Node process is attached', 1, true) then
    fail(':ModgraphRuntimes without an app said %q', note.message)
  end

  -- The Node that runs the Rust runtime tests, when scripts/test chose one.
  local node = (vim.env.MODGRAPH_TEST_NODES or ''):match('([^:]+)$') or 'node'
  app.process = vim.system({ binary, 'run', '--no-watch', '--', node, 'src/app.js' }, {
    cwd = workspace,
    stdin = true,
    text = true,
    stdout = function(_, data)
      app.pending = app.pending .. (data or '')
      while true do
        local line, rest = app.pending:match('^([^\n]*)\n(.*)$')
        if not line then
          break
        end
        app.pending = rest
        local pid = line:match('^ready (%d+)$')
        if pid then
          app.pid = tonumber(pid)
        elseif vim.startswith(line, 'state: ') then
          app.states[#app.states + 1] = line
        end
      end
    end,
    stderr = function(_, data)
      app.stderr = app.stderr .. (data or '')
    end,
  }, function(result)
    app.exited = result
  end)
  cleanups[#cleanups + 1] = function()
    if not app.exited then
      app.process:kill('sigterm')
      app.process:wait(5000)
    end
  end
  wait_for('the app to start', function()
    return app.pid ~= nil or app.exited ~= nil
  end)
  if app.exited then
    fail('the app exited (%s): %s', vim.inspect(app.exited), app.stderr)
  end
  local attached = ('attached to node process %d '):format(app.pid)
  wait_for('the server to log ' .. attached, function()
    return vim.iter(server_log):any(function(m)
      return vim.startswith(m, attached)
    end)
  end)
  local runtimes = list_runtimes()
  if #runtimes ~= 1 or runtimes[1].pid ~= app.pid or runtimes[1].cwd ~= workspace then
    fail('modgraph.listRuntimes answered %s', vim.inspect(runtimes))
  end

  before = #notifications
  vim.cmd('ModgraphRuntimes')
  note = next_notification(':ModgraphRuntimes', before)
  local expected = ('modgraph: 1 Node process attached:\n  node %d: %s src/app.js'):format(
    app.pid,
    vim.fs.basename(node)
  )
  if not vim.startswith(note.message, expected) then
    fail(':ModgraphRuntimes said %q, expected it to start with %q', note.message, expected)
  end
  local state = probe()
  if state ~= 'state: view(hello, app)' then
    fail('the app shows %q', state)
  end
end)

local greeting_buf

step('a saved edit of a module the app runs is reported as outdated there and at its importer', function()
  vim.cmd.edit(path('src/greeting.js'))
  greeting_buf = vim.api.nvim_get_current_buf()
  edit_greeting(greeting_buf, 'hi')
  wait_for('stale-import/runtime-outdated on src/greeting.js', function()
    return has_code('src/greeting.js', 'stale-import/runtime-outdated')
  end)
  wait_for('stale-import/runtime-outdated on src/view.js (not open)', function()
    return has_code('src/view.js', 'stale-import/runtime-outdated')
  end)
  local message = vim.diagnostic.get(greeting_buf)[1].message
  io.stdout:write('  ' .. message:gsub('\n', ' ') .. '\n')
  if not message:find(('node process %d'):format(app.pid), 1, true) then
    fail('the diagnostic does not name the process: %q', message)
  end
  if probe() ~= 'state: view(hello, app)' then
    fail('the app changed before any reload (is `modgraph run` watching files?)')
  end
end)

step(':ModgraphReload reloads the module and its importers in the app', function()
  local before = #notifications
  vim.cmd('ModgraphReload')
  local note = next_notification("the answer of :ModgraphReload", before)
  local prefix = ('modgraph: node %d: reloaded '):format(app.pid)
  if
    note.level ~= vim.log.levels.INFO
    or not vim.startswith(note.message, prefix)
    or not note.message:find('greeting.js', 1, true)
    or not note.message:find('view.js', 1, true)
  then
    fail('message was [%s] %q', tostring(note.level), note.message)
  end
  local state = probe()
  if state ~= 'state: view(hi, app)' then
    fail('after the reload the app shows %q', state)
  end
  expect_diagnostics('src/greeting.js', {})
  expect_diagnostics('src/view.js', {})

  before = #notifications
  vim.cmd('ModgraphReload!')
  note = next_notification('the answer of :ModgraphReload!', before)
  if note.message ~= 'modgraph: every attached process runs the current code' then
    fail(':ModgraphReload! with nothing outdated said %q', note.message)
  end
end)

step('the quick fix of runtime-outdated reloads through vim.lsp.buf.code_action', function()
  edit_greeting(greeting_buf, 'hey')
  local target
  wait_for('stale-import/runtime-outdated on src/greeting.js', function()
    for _, d in ipairs(vim.diagnostic.get(greeting_buf)) do
      if d.code == 'stale-import/runtime-outdated' then
        target = d
        return true
      end
    end
  end)
  vim.api.nvim_win_set_cursor(0, { target.lnum + 1, target.col })
  local offered = {}
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      offered[#offered + 1] = action.title
      return action.kind == 'quickfix'
        and type(action.command) == 'table'
        and action.command.command == 'modgraph.reloadSubgraph'
    end,
  })
  expect_diagnostics('src/greeting.js', {})
  expect_diagnostics('src/view.js', {})
  io.stdout:write('  actions offered: ' .. table.concat(offered, ' | ') .. '\n')
  local state = probe()
  if state ~= 'state: view(hey, app)' then
    fail('after the code action the app shows %q', state)
  end
end)

step(':checkhealth modgraph lists the attached app', function()
  vim.cmd('silent checkhealth modgraph')
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, true)
  local text = table.concat(lines, '\n')
  for _, line in ipairs(lines) do
    if line:find('runtimes: ', 1, true) or line:find('^%- node %d') then
      io.stdout:write('  | ' .. line .. '\n')
    end
  end
  for _, needle in ipairs({
    '- ✅ OK runtimes: 1 Node process attached',
    ('- node %d: '):format(app.pid),
  }) do
    if not text:find(needle, 1, true) then
      fail('checkhealth lacks %q:\n%s', needle, text)
    end
  end
  vim.cmd('tabclose')
end)

step('the server lets go of the app when it exits', function()
  app.process:kill('sigterm')
  wait_for('`modgraph run` to exit', function()
    return app.exited ~= nil
  end)
  wait_for('modgraph.listRuntimes to be empty', function()
    return #list_runtimes() == 0
  end)
end)

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
    'runtimes: no Node process attached',
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

clean_up()
io.stdout:write(('all %d steps passed\n'):format(passed))
vim.lsp.stop_client(client.id, true)
os.exit(0)

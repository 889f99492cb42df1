-- Commands of the modgraph language server for Neovim 0.11+.
local M = {}

M.name = 'modgraph'

local function buffer(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

local function notify(message, level)
  vim.notify('modgraph: ' .. message, level or vim.log.levels.INFO)
end

--- The command that starts the server: the resolved `vim.lsp.config.modgraph.cmd` when it is a
--- list, else the default (`vim.g.modgraph_server_path` or `modgraph` from PATH).
---@return string[]|nil cmd, string? why  nil when `cmd` is a function
function M.server_cmd()
  local config = vim.lsp.config[M.name]
  local cmd = config and config.cmd
  if type(cmd) == 'function' then
    return nil, 'cmd is a function'
  end
  return cmd or { vim.g.modgraph_server_path or 'modgraph', 'lsp', '--stdio' }
end

--- The modgraph client attached to `bufnr`, or nil (with a message).
---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  bufnr = buffer(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = M.name })[1]
  if not client then
    notify(
      ('no modgraph language server attached to %s (is it enabled: vim.lsp.enable("modgraph")?)'):format(
        vim.api.nvim_buf_get_name(bufnr) ~= '' and vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':~:.')
          or 'this buffer'
      ),
      vim.log.levels.WARN
    )
  end
  return client
end

--- Whether the server announced `command` in its capabilities.
---@param client vim.lsp.Client
---@param command string
function M.supports(client, command)
  local provider = client.server_capabilities.executeCommandProvider
  return type(provider) == 'table' and vim.list_contains(provider.commands or {}, command)
end

--- Runs a server command. Errors (an unknown command, a failed request) are shown as one
--- message; `on_result` gets the result otherwise.
---@param client vim.lsp.Client
---@param command string
---@param arguments any[]
---@param bufnr integer
---@param on_result fun(result: any)
function M.exec(client, command, arguments, bufnr, on_result)
  -- A plain request, not client:exec_cmd(): the server's own answer to a command it does not
  -- know ("unknown command …") is the message the user should see.
  client:request('workspace/executeCommand', {
    command = command,
    arguments = arguments,
  }, function(err, result)
    if err then
      local message = err.message or tostring(err)
      if not M.supports(client, command) then
        message = ('%s is not supported by this modgraph server (it answered: %s)'):format(
          command,
          message
        )
      end
      notify(message, vim.log.levels.ERROR)
      return
    end
    on_result(result)
  end, bufnr)
end

local function relative(path)
  return vim.fn.fnamemodify(path, ':~:.')
end

local function file_of(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then
    notify('this buffer has no file', vim.log.levels.WARN)
    return nil
  end
  return name
end

--- `modgraph.showDependents` / `modgraph.showDependencies` for the file of `bufnr`, shown in
--- the quickfix list.
---@param which 'dependents'|'dependencies'
---@param bufnr? integer
function M.show_closure(which, bufnr)
  bufnr = buffer(bufnr)
  local file = file_of(bufnr)
  local client = file and M.client(bufnr)
  if not client then
    return
  end
  local command = which == 'dependents' and 'modgraph.showDependents'
    or 'modgraph.showDependencies'
  M.exec(client, command, { vim.uri_from_bufnr(bufnr) }, bufnr, function(locations)
    if locations == nil or locations == vim.NIL then
      notify(relative(file) .. ' is not in the module graph', vim.log.levels.WARN)
      return
    end
    local label = which == 'dependents' and 'imports ' .. relative(file)
      or 'imported by ' .. relative(file)
    local items = {}
    for _, location in ipairs(locations) do
      items[#items + 1] = {
        filename = vim.uri_to_fname(location.uri),
        lnum = location.range.start.line + 1,
        col = 1,
        text = label .. (which == 'dependents' and ' (directly or through other modules)' or ''),
      }
    end
    local title = ('modgraph: %d %s of %s'):format(#items, which, relative(file))
    vim.fn.setqflist({}, ' ', { title = title, items = items })
    if #items == 0 then
      notify(('%s has no %s'):format(relative(file), which))
      return
    end
    vim.cmd('botright copen')
  end)
end

--- `modgraph.graph`: the modules around the file of `bufnr`, in a scratch buffer.
---@param bufnr? integer
---@param format? 'mermaid'|'dot'|'json'
---@param depth? integer
function M.graph(bufnr, format, depth)
  bufnr = buffer(bufnr)
  format = format or 'mermaid'
  depth = depth or 1
  local file = file_of(bufnr)
  local client = file and M.client(bufnr)
  if not client then
    return
  end
  M.exec(client, 'modgraph.graph', { vim.uri_from_bufnr(bufnr), format, depth }, bufnr, function(text)
    if type(text) ~= 'string' then
      notify(relative(file) .. ' is not in the module graph', vim.log.levels.WARN)
      return
    end
    local scratch = vim.api.nvim_create_buf(false, true)
    vim.bo[scratch].bufhidden = 'wipe'
    vim.api.nvim_buf_set_lines(scratch, 0, -1, false, vim.split(text, '\n', { trimempty = true }))
    vim.bo[scratch].modifiable = false
    vim.bo[scratch].filetype = format
    pcall(vim.api.nvim_buf_set_name, scratch, ('modgraph://%s/%s'):format(format, relative(file)))
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, scratch)
  end)
end

--- The message of a `modgraph.reloadSubgraph` answer
--- (`{ runtimes = { { pid, summary, result = { ok, … } } | { pid, error } }, message }`): one line
--- per process, and the level: ERROR when a process failed to reload, else INFO.
---@param result any
---@return string message, integer level
function M.reload_message(result)
  if result == nil or result == vim.NIL then
    return 'reload sent', vim.log.levels.INFO
  end
  if type(result) ~= 'table' then
    return tostring(result), vim.log.levels.INFO
  end
  local runtimes = type(result.runtimes) == 'table' and result.runtimes or {}
  if #runtimes == 0 then
    local message = type(result.message) == 'string' and result.message ~= '' and result.message
      or 'nothing was reloaded'
    return message, vim.log.levels.INFO
  end
  local lines, level = {}, vim.log.levels.INFO
  for _, runtime in ipairs(runtimes) do
    local failed = runtime.error ~= nil
      or (type(runtime.result) == 'table' and runtime.result.ok == false)
    if failed then
      level = vim.log.levels.ERROR
    end
    local text = runtime.summary or runtime.error
    if type(text) ~= 'string' then
      text = failed and 'reload failed' or 'reloaded'
    end
    lines[#lines + 1] = ('node %s: %s'):format(tostring(runtime.pid or '?'), text)
  end
  return table.concat(lines, '\n'), level
end

--- `modgraph.reloadSubgraph`: reloads a file and what depends on it in the runtimes attached
--- to the server (`modgraph run`), or everything outdated when `file` is false. Shows what each
--- process did; `on_result` (optional) gets the server's answer.
---@param bufnr? integer
---@param file? string|false  nil: the file of `bufnr`; false: everything outdated
---@param on_result? fun(result: any)
function M.reload(bufnr, file, on_result)
  bufnr = buffer(bufnr)
  local client = M.client(bufnr)
  if not client then
    return
  end
  local arguments = {}
  if file == nil then
    file = file_of(bufnr)
    if not file then
      return
    end
  end
  if file then
    arguments = { vim.uri_from_fname(vim.fn.fnamemodify(file, ':p')) }
  end
  M.exec(client, 'modgraph.reloadSubgraph', arguments, bufnr, function(result)
    notify(M.reload_message(result))
    if on_result then
      on_result(result)
    end
  end)
end

--- One line about an entry of `modgraph.listRuntimes`
--- (`{ pid, cwd, argv, node, … }`): "node 1234: node src/app.js (Node v22.1.0) in ~/app".
---@param runtime any
---@return string
function M.describe_runtime(runtime)
  if type(runtime) ~= 'table' then
    return tostring(runtime)
  end
  local cwd = type(runtime.cwd) == 'string' and runtime.cwd or nil
  local words = {}
  for i, arg in ipairs(type(runtime.argv) == 'table' and runtime.argv or {}) do
    if i == 1 then
      arg = vim.fn.fnamemodify(arg, ':t')
    elseif cwd and vim.startswith(arg, cwd .. '/') then
      arg = arg:sub(#cwd + 2)
    end
    words[#words + 1] = arg:find('%s') and vim.fn.shellescape(arg) or arg
  end
  local line = ('node %s'):format(tostring(runtime.pid or '?'))
  if #words > 0 then
    line = line .. ': ' .. table.concat(words, ' ')
  end
  if type(runtime.node) == 'string' and runtime.node ~= '' then
    line = line .. (' (Node %s)'):format(runtime.node)
  end
  if cwd then
    line = line .. ' in ' .. vim.fn.fnamemodify(cwd, ':~')
  end
  return line
end

--- `modgraph.listRuntimes`: the Node processes attached to the server of `bufnr`. Shows them,
--- or passes the list to `on_list` instead.
---@param bufnr? integer
---@param on_list? fun(runtimes: table[])
function M.runtimes(bufnr, on_list)
  bufnr = buffer(bufnr)
  local client = M.client(bufnr)
  if not client then
    return
  end
  M.exec(client, 'modgraph.listRuntimes', {}, bufnr, function(result)
    local list = type(result) == 'table' and result or {}
    if on_list then
      on_list(list)
      return
    end
    if #list == 0 then
      notify(
        'no Node process is attached; start the app with `modgraph run -- node app.mjs` in '
          .. vim.fn.fnamemodify(client.root_dir or '.', ':~')
      )
      return
    end
    local lines = {
      ('%d Node process%s attached:'):format(#list, #list == 1 and '' or 'es'),
    }
    for _, runtime in ipairs(list) do
      lines[#lines + 1] = '  ' .. M.describe_runtime(runtime)
    end
    notify(table.concat(lines, '\n'))
  end)
end

return M

-- :checkhealth modgraph
local M = {}

local health = vim.health

--- The buffer the user came from: :checkhealth runs in its own buffer.
local function user_buffer()
  local alt = vim.fn.bufnr('#')
  if alt > 0 and vim.api.nvim_buf_is_valid(alt) and vim.bo[alt].buftype == '' then
    return alt
  end
  return nil
end

local function check_binary()
  health.start('modgraph: server binary')
  local cmd, why = require('modgraph').server_cmd()
  if not cmd then
    health.info('vim.lsp.config.modgraph: ' .. why .. '; the binary is not checked')
    return
  end
  local exe = vim.fn.exepath(cmd[1])
  if exe == '' then
    health.error(('`%s` not found or not executable'):format(cmd[1]), {
      'Install it: `cargo install --path .` in the modgraph repository',
      'Or point vim.g.modgraph_server_path (or the cmd of vim.lsp.config("modgraph", …)) at the binary',
    })
    return
  end
  health.ok('binary: ' .. exe)
  local ok, result = pcall(function()
    return vim.system({ exe, '--version' }, { text = true }):wait(10000)
  end)
  if not ok then
    health.error('`' .. exe .. ' --version` could not run: ' .. tostring(result))
  elseif result.code ~= 0 then
    health.error(
      ('`%s --version` exited with %s: %s'):format(exe, result.code, vim.trim(result.stderr or ''))
    )
  else
    health.ok('version: ' .. vim.trim(result.stdout))
  end
  health.info('command: ' .. table.concat(cmd, ' '))
end

local function check_runtimes(client)
  local modgraph = require('modgraph')
  if not modgraph.supports(client, 'modgraph.listRuntimes') then
    health.info(
      'runtimes: this server does not have modgraph.listRuntimes (no runtime support); nothing to list'
    )
    return
  end
  local response = client:request_sync(
    'workspace/executeCommand',
    { command = 'modgraph.listRuntimes', arguments = {} },
    5000
  )
  if not response then
    health.warn('runtimes: modgraph.listRuntimes did not answer within 5 s')
  elseif response.err then
    health.error('runtimes: ' .. (response.err.message or vim.inspect(response.err)))
  elseif type(response.result) ~= 'table' or #response.result == 0 then
    health.info(
      'runtimes: no Node process attached (start the app with `modgraph run -- node app.mjs` under the workspace folder)'
    )
  else
    local count = #response.result
    health.ok(('runtimes: %d Node process%s attached'):format(count, count == 1 and '' or 'es'))
    for _, runtime in ipairs(response.result) do
      health.info(modgraph.describe_runtime(runtime))
    end
  end
end

local function check_server()
  health.start('modgraph: language server')
  if vim.lsp.is_enabled and not vim.lsp.is_enabled('modgraph') then
    health.warn('not enabled', { 'Add vim.lsp.enable("modgraph") to your configuration' })
  else
    health.ok('enabled')
  end

  local bufnr = user_buffer()
  local name = bufnr and vim.api.nvim_buf_get_name(bufnr) or ''
  local client = bufnr and vim.lsp.get_clients({ bufnr = bufnr, name = 'modgraph' })[1]
  if client then
    health.ok(
      ('running for %s (client %d, root %s)'):format(
        vim.fn.fnamemodify(name, ':~:.'),
        client.id,
        client.root_dir or '?'
      )
    )
    if client.server_info and client.server_info.version then
      health.info('server: modgraph ' .. client.server_info.version)
    end
    check_runtimes(client)
  elseif bufnr and name ~= '' then
    health.warn(
      ('not running for %s (filetype %s)'):format(
        vim.fn.fnamemodify(name, ':~:.'),
        vim.bo[bufnr].filetype ~= '' and vim.bo[bufnr].filetype or 'none'
      ),
      {
        'It starts for JavaScript and TypeScript buffers under a folder with modgraph.json, package.json or .git',
        'See :checkhealth vim.lsp and :LspLog',
      }
    )
  else
    health.info('no file buffer to check; run :checkhealth modgraph from a JS/TS buffer')
  end

  for _, other in ipairs(vim.lsp.get_clients({ name = 'modgraph' })) do
    if other ~= client then
      health.info(
        ('also running: client %d, root %s, %d buffers'):format(
          other.id,
          other.root_dir or '?',
          vim.tbl_count(other.attached_buffers)
        )
      )
    end
  end
end

function M.check()
  check_binary()
  check_server()
end

return M

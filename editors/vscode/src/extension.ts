// The modgraph extension: starts `modgraph lsp --stdio` for JavaScript/TypeScript files, passes
// the settings on, and adds the commands and the status bar item.

import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  Location as LspLocation,
  LogMessageNotification,
  MessageType,
  ServerOptions,
  State,
  StaticFeature,
  TransportKind,
  WorkDoneProgressCancelNotification,
} from 'vscode-languageclient/node';

import { showGraph } from './graph';
import { findServer } from './server';
import { Runtime, StatusItem } from './status';

const LANGUAGES = ['javascript', 'javascriptreact', 'typescript', 'typescriptreact'];
/** Settings that are the keys of modgraph.json. */
const SERVER_KEYS = ['rules', 'ignore', 'conditions'] as const;

let output: vscode.LogOutputChannel;
let client: LanguageClient | undefined;
let status: StatusItem;
let extensionPath: string;
/** Whether the running server was given settings (rather than reading modgraph.json). */
let sentSettings = false;
let pollTimer: NodeJS.Timeout | undefined;

interface ReloadAnswer {
  runtimes?: { pid: number; summary?: string; error?: string }[];
  message?: string;
}

/** The settings for the server, or `undefined` when none is set (it reads modgraph.json). */
function serverSettings(): Record<string, unknown> | undefined {
  const config = vscode.workspace.getConfiguration('modgraph');
  const set = SERVER_KEYS.some((key) => {
    const seen = config.inspect(key);
    return (
      seen !== undefined &&
      (seen.globalValue !== undefined ||
        seen.workspaceValue !== undefined ||
        seen.workspaceFolderValue !== undefined)
    );
  });
  if (!set) {
    return undefined;
  }
  return {
    rules: config.get<Record<string, string>>('rules', {}),
    ignore: config.get<string[]>('ignore', []),
    conditions: config.get<string[]>('conditions', []),
  };
}

/** Leaves out pull diagnostics: pushed diagnostics reach every affected file, open or not. */
class PushDiagnostics implements StaticFeature {
  fillClientCapabilities(capabilities: { textDocument?: { diagnostic?: unknown } }): void {
    if (capabilities.textDocument) {
      delete capabilities.textDocument.diagnostic;
    }
  }
  initialize(): void {}
  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }
  clear(): void {}
}

function log(message: string): void {
  output.info(message);
}

async function startClient(): Promise<void> {
  const found = findServer(extensionPath);
  if ('problem' in found) {
    log(found.problem);
    status.showError('server not found', found.problem);
    const choice = await vscode.window.showErrorMessage(
      `modgraph: ${found.problem}`,
      'Open Settings',
      'Show Output',
    );
    if (choice === 'Open Settings') {
      void vscode.commands.executeCommand('workbench.action.openSettings', 'modgraph.server.path');
    } else if (choice === 'Show Output') {
      output.show(true);
    }
    return;
  }
  log(`starting ${found.command} lsp --stdio (from ${found.source})`);
  const serverOptions: ServerOptions = {
    command: found.command,
    args: ['lsp'],
    // The client appends --stdio.
    transport: TransportKind.stdio,
  };
  const settings = serverSettings();
  sentSettings = settings !== undefined;
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    outputChannel: output,
    initializationOptions: settings === undefined ? undefined : { modgraph: settings },
    middleware: {
      // Indexing progress goes to the status bar item (clicking it cancels) instead of the
      // client's own indicator, which only gets the end to clean up.
      handleWorkDoneProgress: (token, params, next) => {
        status.progress(token, params);
        if (params.kind === 'end') {
          next(token, params);
        }
      },
      // The server's reload code action: show what the reload did.
      executeCommand: async (command, args, next) => {
        const answer: unknown = await next(command, args);
        if (command === 'modgraph.reloadSubgraph') {
          reportReload(answer as ReloadAnswer | undefined);
        }
        return answer;
      },
    },
  };
  const created = new LanguageClient('modgraph', 'modgraph', serverOptions, clientOptions);
  created.registerFeature(new PushDiagnostics());
  created.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      status.stopped();
    } else if (event.newState === State.Running) {
      status.running();
    }
  });
  client = created;
  status.starting();
  try {
    await created.start();
  } catch (error) {
    log(`the server did not start: ${String(error)}`);
    status.showError('server failed', String(error));
    return;
  }
  // Attach/detach lines of the server trigger a fresh look at the runtimes; the line itself
  // still goes to the output channel.
  created.onNotification(LogMessageNotification.type, (params) => {
    switch (params.type) {
      case MessageType.Error:
        output.error(params.message);
        status.flash(params.message);
        break;
      case MessageType.Warning:
        output.warn(params.message);
        break;
      case MessageType.Debug:
        output.debug(params.message);
        break;
      default:
        output.info(params.message);
    }
    if (/attached to node process|exited; detached/.test(params.message)) {
      void refreshRuntimes();
    }
  });
  schedulePolling();
  void refreshRuntimes();
}

function schedulePolling(): void {
  if (pollTimer) {
    clearInterval(pollTimer);
  }
  const seconds = Math.max(1, vscode.workspace.getConfiguration('modgraph').get<number>('runtimes.pollSeconds', 5));
  pollTimer = setInterval(() => void refreshRuntimes(), seconds * 1000);
}

async function refreshRuntimes(): Promise<void> {
  const current = client;
  if (!current || current.state !== State.Running) {
    return;
  }
  try {
    const list = await current.sendRequest<Runtime[] | null>('workspace/executeCommand', {
      command: 'modgraph.listRuntimes',
      arguments: [],
    });
    if (current === client) {
      status.runtimes(list ?? []);
    }
  } catch {
    // A server without runtime support, or one that is restarting: nothing to show.
  }
}

async function stopClient(): Promise<void> {
  const current = client;
  client = undefined;
  if (pollTimer) {
    clearInterval(pollTimer);
    pollTimer = undefined;
  }
  if (current) {
    try {
      await current.stop(5000);
    } catch (error) {
      log(`stopping the server: ${String(error)}`);
    }
  }
  status.stopped();
}

async function restart(): Promise<void> {
  await stopClient();
  await startClient();
}

function runningClient(): LanguageClient | undefined {
  if (client && client.state === State.Running) {
    return client;
  }
  void vscode.window.showWarningMessage('modgraph: the server is not running. See modgraph: Show Output.');
  return undefined;
}

function activeModule(): vscode.TextDocument | undefined {
  const document = vscode.window.activeTextEditor?.document;
  if (!document || document.uri.scheme !== 'file' || !LANGUAGES.includes(document.languageId)) {
    void vscode.window.showInformationMessage('modgraph: open a JavaScript or TypeScript file first.');
    return undefined;
  }
  return document;
}

async function execute<T>(command: string, args: unknown[]): Promise<T | undefined> {
  const current = runningClient();
  if (!current) {
    return undefined;
  }
  try {
    return await current.sendRequest<T>('workspace/executeCommand', { command, arguments: args });
  } catch (error) {
    void vscode.window.showErrorMessage(`modgraph: ${command} failed: ${(error as Error).message ?? String(error)}`);
    return undefined;
  }
}

async function reload(file: vscode.TextDocument | undefined): Promise<void> {
  // The app reads the files from disk: save first.
  if (file) {
    if (file.isDirty) {
      await file.save();
    }
  } else {
    for (const document of vscode.workspace.textDocuments) {
      if (document.isDirty && document.uri.scheme === 'file' && LANGUAGES.includes(document.languageId)) {
        await document.save();
      }
    }
  }
  const args = file ? [file.uri.toString()] : [];
  const answer = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'modgraph: reloading' },
    () => execute<ReloadAnswer>('modgraph.reloadSubgraph', args),
  );
  reportReload(answer);
}

function reportReload(answer: ReloadAnswer | undefined | null): void {
  if (!answer) {
    return;
  }
  const message = answer.message || 'nothing to reload';
  log(`reload: ${message}`);
  const failed = (answer.runtimes ?? []).some((r) => r.error !== undefined);
  if (failed) {
    void vscode.window.showErrorMessage(`modgraph: ${message}`);
  } else {
    void vscode.window.showInformationMessage(`modgraph: ${message}`);
  }
  void refreshRuntimes();
}

function relative(file: string): string {
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file));
  return folder ? path.relative(folder.uri.fsPath, file) : file;
}

async function showClosure(kind: 'dependents' | 'dependencies'): Promise<void> {
  const document = activeModule();
  if (!document) {
    return;
  }
  const command = kind === 'dependents' ? 'modgraph.showDependents' : 'modgraph.showDependencies';
  const locations = await execute<LspLocation[]>(command, [document.uri.toString()]);
  if (locations === undefined) {
    return;
  }
  const name = relative(document.uri.fsPath);
  if (locations === null || locations.length === 0) {
    void vscode.window.showInformationMessage(
      kind === 'dependents' ? `modgraph: no module imports ${name}.` : `modgraph: ${name} loads no other module.`,
    );
    return;
  }
  const items = locations.map((location) => {
    const uri = vscode.Uri.parse(location.uri);
    return { label: relative(uri.fsPath), description: '', uri };
  });
  const picked = await vscode.window.showQuickPick(items, {
    title:
      kind === 'dependents'
        ? `${items.length} modules import ${name}, directly or not`
        : `${name} loads ${items.length} modules at run time, directly or not`,
    placeHolder: 'Open a module',
    matchOnDescription: true,
  });
  if (picked) {
    await vscode.window.showTextDocument(picked.uri);
  }
}

async function listRuntimes(): Promise<void> {
  const list = await execute<Runtime[]>('modgraph.listRuntimes', []);
  if (list === undefined) {
    return;
  }
  status.runtimes(list ?? []);
  if (!list || list.length === 0) {
    void vscode.window.showInformationMessage(
      'modgraph: no Node app is attached. Start one under a workspace folder with `modgraph run -- node app.mjs`.',
    );
    return;
  }
  type Item = vscode.QuickPickItem & { reload?: boolean };
  const items: Item[] = list.map((runtime) => ({
    label: `$(debug-restart) node ${runtime.pid}`,
    description: (runtime.argv ?? []).join(' '),
    detail: [runtime.cwd, runtime.node ? `Node ${runtime.node}` : undefined, runtime.modules !== undefined ? `${runtime.modules} modules` : undefined]
      .filter(Boolean)
      .join(' · '),
  }));
  items.push({ label: '$(sync) Reload everything outdated', reload: true, alwaysShow: true });
  const picked = await vscode.window.showQuickPick(items, {
    title: `${list.length} attached ${list.length === 1 ? 'runtime' : 'runtimes'}`,
    placeHolder: 'Reload everything outdated in them, or close',
  });
  if (picked?.reload) {
    await reload(undefined);
  }
}

async function moduleGraph(): Promise<void> {
  const document = activeModule();
  if (!document) {
    return;
  }
  await showGraph(extensionPath, document.uri, (depth) =>
    execute<string>('modgraph.graph', [document.uri.toString(), 'mermaid', depth]),
  );
}

async function onConfiguration(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration('modgraph')) {
    return;
  }
  if (event.affectsConfiguration('modgraph.server.path')) {
    log('modgraph.server.path changed: restarting the server');
    await restart();
    return;
  }
  if (event.affectsConfiguration('modgraph.runtimes.pollSeconds') && client) {
    schedulePolling();
  }
  if (!SERVER_KEYS.some((key) => event.affectsConfiguration(`modgraph.${key}`))) {
    return;
  }
  const settings = serverSettings();
  if (settings === undefined) {
    if (sentSettings) {
      // Back to the workspace's modgraph.json: a new server reads it.
      log('the modgraph settings were removed: restarting the server to read modgraph.json');
      await restart();
    }
    return;
  }
  if (client && client.state === State.Running) {
    sentSettings = true;
    log(`settings changed: ${JSON.stringify(settings)}`);
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { modgraph: settings } });
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionPath = context.extensionPath;
  output = vscode.window.createOutputChannel('modgraph', { log: true });
  status = new StatusItem({
    cancel: (token) => {
      void client?.sendNotification(WorkDoneProgressCancelNotification.type, { token });
    },
  });
  context.subscriptions.push(
    output,
    status,
    vscode.commands.registerCommand('modgraph.reloadFile', async () => {
      const document = activeModule();
      if (document) {
        await reload(document);
      }
    }),
    vscode.commands.registerCommand('modgraph.reloadOutdated', () => reload(undefined)),
    vscode.commands.registerCommand('modgraph.dependents', () => showClosure('dependents')),
    vscode.commands.registerCommand('modgraph.dependencies', () => showClosure('dependencies')),
    vscode.commands.registerCommand('modgraph.moduleGraph', moduleGraph),
    vscode.commands.registerCommand('modgraph.showRuntimes', listRuntimes),
    vscode.commands.registerCommand('modgraph.restartServer', restart),
    vscode.commands.registerCommand('modgraph.showOutput', () => output.show(true)),
    vscode.commands.registerCommand('modgraph.cancelIndexing', (token: string | number) => status.cancel(token)),
    vscode.workspace.onDidChangeConfiguration((event) => void onConfiguration(event)),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}

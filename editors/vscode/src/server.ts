// Where the modgraph binary is: the `modgraph.server.path` setting, else the binary bundled in
// the extension (`server/modgraph`), else `modgraph` on PATH.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export interface Found {
  command: string;
  /** Where it came from, for the output channel. */
  source: 'setting' | 'bundled' | 'PATH';
}

export interface NotFound {
  /** What is wrong and how to fix it, one paragraph. */
  problem: string;
}

const EXE = process.platform === 'win32' ? 'modgraph.exe' : 'modgraph';

function executable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function fromSetting(value: string): string {
  let file = value.trim();
  if (file === '~' || file.startsWith('~/')) {
    file = path.join(os.homedir(), file.slice(1));
  }
  if (!path.isAbsolute(file)) {
    // Relative to the first workspace folder (e.g. `target/release/modgraph`).
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    if (folder) {
      file = path.join(folder, file);
    }
  }
  return file;
}

export function findServer(extensionPath: string): Found | NotFound {
  const configured = vscode.workspace.getConfiguration('modgraph').get<string>('server.path', '');
  if (configured.trim() !== '') {
    const file = fromSetting(configured);
    if (executable(file)) {
      return { command: file, source: 'setting' };
    }
    return {
      problem:
        `The setting modgraph.server.path is "${configured}", but there is no executable file at ${file}. ` +
        'Correct the path, or clear the setting to use the bundled binary or `modgraph` on PATH.',
    };
  }
  const bundled = path.join(extensionPath, 'server', EXE);
  if (executable(bundled)) {
    return { command: bundled, source: 'bundled' };
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && executable(path.join(dir, EXE))) {
      return { command: path.join(dir, EXE), source: 'PATH' };
    }
  }
  return {
    problem:
      'The modgraph server was not found: the setting modgraph.server.path is empty, this extension has no ' +
      'bundled binary and there is no `modgraph` on PATH. Install it with `cargo install --path .` in the ' +
      'modgraph repository, or set modgraph.server.path to the binary.',
  };
}

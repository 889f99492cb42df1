// "Show Module Graph": the server's Mermaid text for the modules around a file, drawn in a
// webview by the Mermaid copy bundled with the extension (no network). Clicking a module opens it.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

let panel: vscode.WebviewPanel | undefined;
/** The panel's message handler for the file it shows now. */
let listener: vscode.Disposable | undefined;

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The graph's labels are paths relative to the first workspace folder. */
function base(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** Marks the node of `file` so that it stands out. */
function highlight(mermaid: string, file: string): string {
  const root = base();
  if (!root) {
    return mermaid;
  }
  const label = path.relative(root, file).split(path.sep).join('/');
  for (const line of mermaid.split('\n')) {
    const match = /^\s*(m\d+)\["(.*)"\]\s*$/.exec(line);
    if (match && match[2] === label) {
      return `${mermaid.trimEnd()}\n  classDef current fill:#fff3c4,stroke:#b7791f,stroke-width:3px\n  class ${match[1]} current\n`;
    }
  }
  return mermaid;
}

export async function showGraph(
  extensionPath: string,
  uri: vscode.Uri,
  fetch: (depth: number) => Promise<string | undefined | null>,
): Promise<void> {
  const root = base();
  const name = root ? path.relative(root, uri.fsPath) : path.basename(uri.fsPath);
  const media = vscode.Uri.file(path.join(extensionPath, 'media'));
  if (!panel) {
    panel = vscode.window.createWebviewPanel('modgraph.graph', 'Module graph', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [media],
      retainContextWhenHidden: true,
    });
    panel.onDidDispose(() => {
      panel = undefined;
      listener?.dispose();
      listener = undefined;
    });
  } else {
    panel.reveal(vscode.ViewColumn.Beside);
  }
  const current = panel;
  current.title = `Module graph: ${path.basename(uri.fsPath)}`;
  let depth = 1;
  const draw = async () => {
    const text = await fetch(depth);
    if (panel !== current) {
      return;
    }
    if (typeof text !== 'string') {
      current.webview.html = page(current.webview, media, name, depth, undefined);
      return;
    }
    current.webview.html = page(current.webview, media, name, depth, highlight(text, uri.fsPath));
  };
  listener?.dispose();
  listener = current.webview.onDidReceiveMessage(async (message: { open?: string; depth?: number }) => {
    if (typeof message.depth === 'number' && message.depth >= 1 && message.depth <= 9) {
      depth = message.depth;
      await draw();
    } else if (typeof message.open === 'string' && root) {
      const file = path.join(root, message.open);
      if (fs.existsSync(file) && fs.statSync(file).isFile()) {
        await vscode.window.showTextDocument(vscode.Uri.file(file), { viewColumn: vscode.ViewColumn.One });
      }
    }
  });
  await draw();
}

function page(webview: vscode.Webview, media: vscode.Uri, name: string, depth: number, mermaid: string | undefined): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const script = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(media, file)).toString();
  const body =
    mermaid === undefined
      ? `<p class="empty">The server has no graph for ${escapeHtml(name)}: is it a module of the workspace?</p>`
      : `<pre id="source" hidden>${escapeHtml(mermaid)}</pre><div id="graph" aria-label="module graph"></div>`;
  const options = [1, 2, 3, 4]
    .map((d) => `<option value="${d}"${d === depth ? ' selected' : ''}>${d}</option>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${webview.cspSource} data:; style-src ${webview.cspSource} 'unsafe-inline'; font-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 16px; }
  header { display: flex; gap: 16px; align-items: baseline; }
  h1 { font-size: 1.1em; font-weight: 600; }
  #graph svg { max-width: 100%; height: auto; }
  #graph .node { cursor: pointer; }
  .empty, .error { color: var(--vscode-descriptionForeground); }
  .legend { color: var(--vscode-descriptionForeground); font-size: 0.9em; }
</style>
</head>
<body>
<header>
  <h1>Modules around ${escapeHtml(name)}</h1>
  <label>depth <select id="depth">${options}</select></label>
</header>
<p class="legend">Arrows point from importer to imported module; dashed: dynamic import() or type-only. Cylinders are packages. Click a module to open it.</p>
${body}
<script nonce="${nonce}" src="${script('mermaid.min.js')}"></script>
<script nonce="${nonce}" src="${script('graph.js')}"></script>
</body>
</html>`;
}

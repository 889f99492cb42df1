// Draws the module graph of the webview with the bundled Mermaid and reports clicks.
/* global mermaid, acquireVsCodeApi */
(function () {
  const vscode = acquireVsCodeApi();
  const depth = document.getElementById('depth');
  depth.addEventListener('change', () => vscode.postMessage({ depth: Number(depth.value) }));

  const source = document.getElementById('source');
  const target = document.getElementById('graph');
  if (!source || !target) {
    return;
  }
  const dark = document.body.classList.contains('vscode-dark') || document.body.classList.contains('vscode-high-contrast');
  mermaid.initialize({
    startOnLoad: false,
    securityLevel: 'strict',
    theme: dark ? 'dark' : 'default',
    flowchart: { htmlLabels: false },
  });
  mermaid
    .render('modgraph-graph', source.textContent)
    .then(({ svg }) => {
      target.innerHTML = svg;
      target.dataset.rendered = 'true';
      for (const node of target.querySelectorAll('g.node')) {
        node.addEventListener('click', () => {
          const label = node.textContent.trim();
          if (label) {
            vscode.postMessage({ open: label });
          }
        });
      }
    })
    .catch((error) => {
      target.textContent = `The graph could not be drawn: ${error && error.message ? error.message : error}`;
      target.className = 'error';
    });
})();

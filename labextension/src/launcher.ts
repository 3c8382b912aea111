/**
 * Launcher cards: "Dioptra Lab experiment" (a new notebook that opens the Lab widget) and
 * one card per Voila dashboard of the server.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

/** The first cell of a new experiment notebook. */
export const EXPERIMENT_SOURCE = 'import dioptra_lab\ndioptra_lab.lab()';

/** The launcher's category of the cards. */
export const LAUNCHER_CATEGORY = 'Dioptra Lab';

/**
 * Create a notebook in `cwd` whose first cell opens the Lab widget, and run that cell.
 * Needs the notebook extension's `notebook:create-new` command.
 */
export async function newExperimentNotebook(
  app: JupyterFrontEnd,
  cwd: string
): Promise<NotebookPanel | null> {
  // name the kernel, or Lab asks the user to pick one before the cell can run
  const specs = app.serviceManager.kernelspecs;
  await specs.ready;
  const kernelName = specs.specs?.default ?? Object.keys(specs.specs?.kernelspecs ?? {})[0];
  const widget = (await app.commands.execute('notebook:create-new', {
    cwd,
    ...(kernelName ? { kernelName } : {})
  })) as unknown;
  if (!(widget instanceof NotebookPanel)) {
    return null;
  }
  const panel = widget;
  await panel.context.ready;
  const shared = panel.content.model?.sharedModel;
  if (!shared) {
    return panel;
  }
  const first = shared.cells.length ? shared.getCell(0) : null;
  if (first && first.cell_type === 'code' && !first.getSource().trim()) {
    first.setSource(EXPERIMENT_SOURCE);
  } else {
    shared.insertCell(0, { cell_type: 'code', source: EXPERIMENT_SOURCE });
  }
  panel.content.activeCellIndex = 0;
  await panel.sessionContext.ready;
  await NotebookActions.run(panel.content, panel.sessionContext);
  return panel;
}

/**
 * The absolute URL of a dashboard: the server gives `<base_url>voila/render/…`, a path
 * from the host's root, or a full URL.
 */
export function dashboardHref(url: string, baseUrl: string): string {
  try {
    return new URL(url, baseUrl).href;
  } catch {
    return url;
  }
}

/**
 * The MIME renderers of run results (`application/vnd.dioptra-lab.results+json`) and
 * failure reports (`application/vnd.dioptra-lab.failure+json`).
 *
 * Rank 0 puts them ahead of the HTML and text copies the same output carries.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { renderFailure, renderResults } from './results';
import { FAILURE_MIME, IRunResultJSON, RESULTS_MIME } from './types';

/** Renders one output of a MIME type into its node. */
class DomRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    private readonly mimeType: string,
    private readonly render: (data: unknown) => HTMLElement
  ) {
    super();
    this.addClass('jp-DioptraLab-mime');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this.mimeType];
    this.node.textContent = '';
    try {
      this.node.appendChild(this.render(data));
    } catch (error) {
      const pre = document.createElement('pre');
      pre.className = 'jp-DioptraLab-mime-error';
      pre.textContent = `Cannot show ${this.mimeType}: ${String(error)}`;
      this.node.appendChild(pre);
    }
    return Promise.resolve();
  }
}

export const resultsRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [RESULTS_MIME],
  defaultRank: 0,
  createRenderer: options =>
    new DomRenderer(options.mimeType, data =>
      renderResults((data ?? {}) as unknown as IRunResultJSON)
    )
};

export const failureRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [FAILURE_MIME],
  defaultRank: 0,
  createRenderer: options =>
    new DomRenderer(options.mimeType, data =>
      renderFailure((data ?? {}) as Record<string, unknown>)
    )
};

const extensions: IRenderMime.IExtension[] = [
  {
    id: 'dioptra-lab:results-renderer',
    description: 'Renders the results of a dioptra_lab run.',
    rendererFactory: resultsRendererFactory,
    rank: 0,
    dataType: 'json'
  },
  {
    id: 'dioptra-lab:failure-renderer',
    description: 'Renders why a dioptra_lab run failed.',
    rendererFactory: failureRendererFactory,
    rank: 0,
    dataType: 'json'
  }
];

export default extensions;

/**
 * The dioptra_lab JupyterLab extension's plugin. (The results MIME renderer is `mime.ts`.)
 *
 * Voila loads every Lab extension, and its shared scope lacks packages the Lab side needs
 * (docmanager, launcher): this module imports only `@jupyterlab/application` and
 * `@jupyterlab/apputils` (which Voila shares), every token is optional, and the Lab side
 * (`lab.ts`, a separate chunk) is loaded only when a Lab shell exists. In Voila the plugin
 * activates and does nothing.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'dioptra-lab:plugin',
  description:
    'The Dioptra Lab panel, the Submit to queue command, launcher cards and job notifications.',
  autoStart: true,
  requires: [],
  optional: [ILabShell, ICommandPalette, ILayoutRestorer],
  activate: async (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ): Promise<void> => {
    if (!labShell) {
      return; // Voila, or another front end without a Lab shell: only the MIME renderer
    }
    const { activateLab } = await import('./lab');
    await activateLab(app, labShell, palette, restorer);
  }
};

export default [plugin];

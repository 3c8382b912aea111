/** The icons of the extension (theme-aware: `jp-icon3` follows the Lab's icon colour). */
import { LabIcon } from '@jupyterlab/ui-components';

const dioptraSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20a10 10 0 1 0 0-20zm0 2a8 8 0 1 1 0 16a8 8 0 1 1 0-16z"/>
    <path d="M12 7a5 5 0 1 0 0 10a5 5 0 1 0 0-10zm0 2a3 3 0 1 1 0 6a3 3 0 1 1 0-6z"/>
    <rect x="11" y="0.5" width="2" height="4"/>
    <rect x="11" y="19.5" width="2" height="4"/>
    <rect x="0.5" y="11" width="4" height="2"/>
    <rect x="19.5" y="11" width="4" height="2"/>
  </g>
</svg>`;

const queueSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="4" width="12" height="3" rx="1"/>
    <rect x="3" y="10.5" width="12" height="3" rx="1"/>
    <rect x="3" y="17" width="12" height="3" rx="1"/>
    <path d="M17 7l5 5l-5 5z"/>
  </g>
</svg>`;

const dashboardSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h8v10H3zm10 0h8v6h-8zM3 15h8v6H3zm10-4h8v10h-8z"/>
  </g>
</svg>`;

export const dioptraIcon = new LabIcon({ name: 'dioptra-lab:logo', svgstr: dioptraSvg });
export const submitIcon = new LabIcon({ name: 'dioptra-lab:submit', svgstr: queueSvg });
export const dashboardIcon = new LabIcon({
  name: 'dioptra-lab:dashboard',
  svgstr: dashboardSvg
});

/**
 * Block Kit, rendered as Slack lays it out: header, section (text, fields, a button accessory),
 * context, divider, actions (buttons, with their confirm dialogs). Text goes through mrkdwn.js or
 * `textContent`; nothing a message holds is ever parsed as HTML.
 */
import { emojify, renderMrkdwn } from './mrkdwn.js';

/**
 * @param {unknown[]} blocks
 * @param {{ doc: Document, names: object, onButton: (button: object, blockId: string) => void }} ctx
 */
export function renderBlocks(blocks, ctx) {
  const root = ctx.doc.createElement('div');
  root.className = 'blocks';
  for (const block of blocks) root.append(renderBlock(block, ctx));
  return root;
}

/** A text object: mrkdwn, or plain text (whose :emoji: Slack shows). */
export function renderText(text, ctx) {
  if (!text || typeof text.text !== 'string') return ctx.doc.createTextNode('');
  if (text.type === 'mrkdwn') return renderMrkdwn(text.text, ctx.doc, ctx.names);
  return ctx.doc.createTextNode(emojify(text.text));
}

function div(ctx, className, ...children) {
  const element = ctx.doc.createElement('div');
  element.className = className;
  element.append(...children);
  return element;
}

function renderBlock(block, ctx) {
  switch (block?.type) {
    case 'header': {
      const h = ctx.doc.createElement('h3');
      h.className = 'block-header';
      h.append(renderText(block.text, ctx));
      return h;
    }
    case 'section': {
      const section = div(ctx, 'block-section');
      const main = div(ctx, 'section-main');
      if (block.text) main.append(div(ctx, 'section-text', renderText(block.text, ctx)));
      if (Array.isArray(block.fields) && block.fields.length > 0) {
        main.append(
          div(
            ctx,
            'section-fields',
            ...block.fields.map((f) => div(ctx, 'field', renderText(f, ctx))),
          ),
        );
      }
      section.append(main);
      if (block.accessory?.type === 'button') {
        section.append(
          div(ctx, 'section-accessory', button(block.accessory, block.block_id ?? '', ctx)),
        );
      }
      return section;
    }
    case 'context':
      return div(
        ctx,
        'block-context',
        ...(block.elements ?? []).map((e) =>
          e.type === 'image'
            ? div(ctx, 'context-image', e.alt_text ?? '')
            : div(ctx, 'context-item', renderText(e, ctx)),
        ),
      );
    case 'divider':
      return ctx.doc.createElement('hr');
    case 'actions':
      return div(
        ctx,
        'block-actions',
        ...(block.elements ?? [])
          .filter((e) => e.type === 'button')
          .map((e) => button(e, block.block_id ?? '', ctx)),
      );
    default:
      return div(
        ctx,
        'block-unknown',
        `(a ${String(block?.type)} block, which this console does not show)`,
      );
  }
}

function button(element, blockId, ctx) {
  const b = ctx.doc.createElement('button');
  b.type = 'button';
  b.className = `btn ${element.style === 'primary' || element.style === 'danger' ? element.style : ''}`;
  b.textContent = emojify(element.text?.text ?? element.action_id ?? 'button');
  b.dataset.actionId = element.action_id ?? '';
  b.addEventListener('click', () => ctx.onButton(element, blockId));
  return b;
}

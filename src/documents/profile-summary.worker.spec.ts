import { MessageChannel, MessagePort } from 'node:worker_threads';
import type {
  ContactPageMessage,
  SummaryContact,
  WorkerMessage,
} from './pdf-render.protocol';
import renderProfileSummaryTask from './profile-summary.worker';

const HEADER = {
  email: 'ada@example.org',
  profile: { fullName: 'Ada Lovelace' },
  generatedAt: new Date('2026-12-01T00:00:00.000Z'),
};

/** Plays the main thread: answers page requests from `pages`, collects the PDF's chunks. */
function mainThread(port: MessagePort, pages: unknown[]) {
  const chunks: Buffer[] = [];
  let ended = false;
  port.on('message', (message: WorkerMessage) => {
    if (message.type === 'chunk') chunks.push(Buffer.from(message.bytes));
    else if (message.type === 'end') ended = true;
    else {
      const reply = {
        type: 'page',
        contacts: pages.length ? pages.shift() : null,
      } as ContactPageMessage;
      port.postMessage(reply);
    }
  });
  return { pdf: () => Buffer.concat(chunks), ended: () => ended };
}

describe('profile summary worker task', () => {
  it('asks for contacts a page at a time and sends the PDF back, then end', async () => {
    const { port1, port2 } = new MessageChannel();
    const contact: SummaryContact = {
      fullName: 'Charles Babbage',
      email: null,
      phone: null,
      address: null,
    };
    const main = mainThread(port1, [[contact], [contact]]);
    await renderProfileSummaryTask({ header: HEADER, port: port2 });
    // Messages posted before the worker closed its end are still delivered, in order.
    for (let i = 0; i < 100 && !main.ended(); i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(main.ended()).toBe(true);
    expect(main.pdf().subarray(0, 5).toString()).toBe('%PDF-');
    expect(main.pdf().subarray(-6).toString()).toContain('%%EOF');
    port1.close();
  });

  it('fails (the task rejects) when a page cannot be drawn, and sends no end', async () => {
    const { port1, port2 } = new MessageChannel();
    const main = mainThread(port1, [42]);
    await expect(
      renderProfileSummaryTask({ header: HEADER, port: port2 }),
    ).rejects.toThrow(TypeError);
    expect(main.ended()).toBe(false);
    port1.close();
  });

  it('stops when the main thread closes the port (the render was abandoned)', async () => {
    const { port1, port2 } = new MessageChannel();
    port1.once('message', () => port1.close());
    await expect(
      renderProfileSummaryTask({ header: HEADER, port: port2 }),
    ).rejects.toThrow('render abandoned');
  });
});

import { ProgressBar, progressText } from './progress-bar';

function recordingStream(isTTY: boolean) {
  const written: string[] = [];
  return {
    stream: {
      isTTY,
      columns: 200,
      write: (text: string) => written.push(text),
    },
    written,
  };
}

describe('ProgressBar', () => {
  it('draws a bar with the count and the share of the estimate', () => {
    expect(progressText('Contact', 12_000, 48_000)).toBe(
      'Contact [######------------------] 12,000 of ~48,000 rows (25%)',
    );
  });

  it('shows the count alone without an estimate, and never more than 100%', () => {
    expect(progressText('Contact', 7, undefined)).toBe('Contact: 7 rows');
    expect(progressText('Contact', 150, 100)).toMatch(/\(100%\)$/);
  });

  it('on a terminal, redraws one line in place at most every 100 ms and clears it when done', () => {
    let now = 0;
    const { stream, written } = recordingStream(true);
    const bar = new ProgressBar(stream, { now: () => now });
    bar.update('Contact', 1, 10);
    now = 50;
    bar.update('Contact', 2, 10);
    now = 150;
    bar.update('Contact', 3, 10);
    bar.finish();
    expect(written).toEqual([
      `\r${progressText('Contact', 1, 10)}\u001b[K`,
      `\r${progressText('Contact', 3, 10)}\u001b[K`,
      '\r\u001b[K',
    ]);
  });

  it('cuts the line to the terminal width', () => {
    const { stream, written } = recordingStream(true);
    stream.columns = 10;
    new ProgressBar(stream, { now: () => 0 }).update('Contact', 1, 10);
    expect(written[0]).toBe('\rContact [\u001b[K');
  });

  it('takes 80 columns when the terminal reports none (a pseudo-terminal may say 0)', () => {
    const { stream, written } = recordingStream(true);
    stream.columns = 0;
    new ProgressBar(stream, { now: () => 0 }).update('Contact', 1, 10);
    expect(written[0]).toBe(`\r${progressText('Contact', 1, 10)}\u001b[K`);
  });

  it('elsewhere (a log), writes plain lines, one every 2 s at most, and nothing to clear', () => {
    let now = 1_000;
    const { stream, written } = recordingStream(false);
    const bar = new ProgressBar(stream, { now: () => now });
    bar.update('Contact', 1);
    now = 2_999;
    bar.update('Contact', 2);
    now = 3_000;
    bar.update('Contact', 3);
    bar.finish();
    expect(written).toEqual(['Contact: 1 rows\n', 'Contact: 3 rows\n']);
  });
});

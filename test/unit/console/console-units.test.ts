import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import pino from 'pino';
import { SessionStore, safeEqual } from '../../../src/console/auth.js';
import { framePixelsOf, framePng } from '../../../src/console/png.js';
import { ConsoleConfigError, checkConsoleToken, startConsole } from '../../../src/console/server.js';
import { parseDeadLetter } from '../../../src/console/dlq-reader.js';
import { loadConfig } from '../../../src/config.js';
import { StreamService } from '../../../src/stream/service.js';
import { float32Shortest, memberLogp } from '../../../src/stream/consumer.js';
import { framePayload } from '../../../consumers/frames.js';
import { TRANSACTION_PCA_FIELDS, type ImageFrame, type Transaction } from '../../../src/schemas/schemas.js';
import { transactionPayload } from '../../../consumers/transactions.js';
import { manifestFigures } from '../../../src/console/views.js';
import type { ModelVersion } from '../../../src/store/model-registry.js';

const TOKEN = 'unit-console-token-0123456789';

describe('console token: no default credential', () => {
  it('refuses to start without a token or with a short one', async () => {
    expect(() => checkConsoleToken(undefined)).toThrow(ConsoleConfigError);
    expect(() => checkConsoleToken('')).toThrow(/CONSOLE_TOKEN/);
    expect(() => checkConsoleToken('short')).toThrow(/16 characters/);
    expect(checkConsoleToken(TOKEN)).toBe(TOKEN);
    // startConsole checks before touching the database or a port.
    await expect(startConsole({ host: '127.0.0.1', port: 0, token: '', db: {} as never })).rejects.toThrow(
      ConsoleConfigError,
    );
  });

  it('the config rejects a short CONSOLE_TOKEN and defaults to auto / loopback', () => {
    expect(() => loadConfig({ CONSOLE_TOKEN: 'abc' })).toThrow(/CONSOLE_TOKEN/);
    const env = loadConfig({});
    expect([env.CONSOLE, env.CONSOLE_HOST, env.CONSOLE_PORT, env.CONSOLE_TOKEN]).toEqual([
      'auto',
      '127.0.0.1',
      9465,
      '',
    ]);
  });

  it('serve with the console on and no token refuses to start, before connecting to anything', async () => {
    const env = loadConfig({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', CONSOLE: 'on' });
    const logger = pino({ level: 'silent' });
    await expect(StreamService.start({ env, kinds: ['frames'], logger })).rejects.toThrow(ConsoleConfigError);
    await expect(
      StreamService.start({ env: { ...env, CONSOLE: 'off' }, kinds: ['frames'], logger, console: true }),
    ).rejects.toThrow(ConsoleConfigError);
  });
});

describe('sessions', () => {
  it('checks the token in constant time and expires idle sessions', () => {
    let now = 1_000_000;
    const s = new SessionStore(TOKEN, { ttlMs: 1000, now: () => now });
    expect(s.login('wrong-token-0123456789', 'x')).toBeNull();
    const ok = s.login(TOKEN, 'alice');
    expect(ok?.reviewer).toBe('alice');
    expect(ok?.id).not.toBe(ok?.csrf);
    expect(s.get(ok?.id)?.reviewer).toBe('alice');
    now += 1001;
    expect(s.get(ok?.id)).toBeNull();
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
  });

  it('locks logins out after too many failures in a minute', () => {
    const s = new SessionStore(TOKEN, { maxFailuresPerMinute: 3, now: () => 60_000 * 5 });
    for (let i = 0; i < 3; i++) s.login('nope', 'x');
    expect(s.lockedOut).toBe(true);
    expect(s.login(TOKEN, 'alice')).toBeNull();
  });

  it('refuses a token shorter than 16 characters', () => {
    expect(() => new SessionStore('short')).toThrow();
  });
});

describe('frame images', () => {
  it('decodes the stored pixels and draws them scaled', () => {
    const px = Buffer.from([0, 255, 128, 64]);
    const f = framePixelsOf({ width: 2, height: 2, channels: 1, pixels: px.toString('base64') });
    expect(f).not.toBeNull();
    const img = PNG.sync.read(framePng(f!, 4));
    expect([img.width, img.height]).toEqual([8, 8]);
    expect(img.data[0]).toBe(0);
    expect(img.data[(0 * 8 + 4) * 4]).toBe(255);
    expect(img.data[(4 * 8 + 0) * 4]).toBe(128);
  });

  it('returns null for a payload without consistent pixels', () => {
    expect(framePixelsOf({ width: 28, height: 28 })).toBeNull();
    expect(framePixelsOf({ width: 2, height: 2, pixels: 'AAA=' })).toBeNull();
    expect(
      framePixelsOf({ width: 2, height: 2, channels: 2, pixels: Buffer.alloc(8).toString('base64') }),
    ).toBeNull();
  });

  it('the frames consumer keeps the pixels in the flag payload', () => {
    const frame: ImageFrame = {
      id: 'f1',
      source: 'mnist',
      width: 2,
      height: 2,
      channels: 1,
      pixels: Buffer.from([1, 2, 3, 4]),
      event_time: 0,
      label: 7,
      ood_kind: null,
    } as ImageFrame;
    const p = framePayload(frame);
    expect(p).toMatchObject({ width: 2, height: 2, channels: 1, pixels: 'AQIDBA==', label: 7 });
  });
});

describe('transaction payload', () => {
  it('keeps the record’s fields (time_seconds, V1..V28) beside amount, as sent', () => {
    const r = {
      id: 't',
      event_time: 0,
      time_seconds: 12,
      amount: 77.89,
      card_id: null,
      merchant_id: null,
    } as Record<string, unknown>;
    TRANSACTION_PCA_FIELDS.forEach((f, j) => (r[f] = j + 0.1));
    const p = transactionPayload(r as Transaction) as {
      amount: number;
      features: Record<string, number>;
    };
    expect(p.amount).toBe(77.89);
    expect(Object.keys(p.features)).toEqual(['time_seconds', ...TRANSACTION_PCA_FIELDS]);
    expect(p.features.V28).toBe(27.1);
  });
});

describe('member scores in the payload', () => {
  it('keeps each member’s log p as the shortest decimal of its float32', () => {
    const logp = new Float32Array([-101.5, -77.89, Number.NaN, -3.3]);
    expect(memberLogp({ logp, members: 2 }, 0)).toEqual([-101.5, -77.89]);
    expect(memberLogp({ logp, members: 2 }, 1)).toEqual([null, -3.3]);
    expect(float32Shortest(Math.fround(77.89))).toBe(77.89);
  });
});

describe('dead letters', () => {
  it('reads reason and source from the envelope, else from the headers; ignores junk', () => {
    const env = {
      reason: 'TRUNCATED',
      kind: 'frames',
      error: 'value ends early',
      field: null,
      valueLength: 3,
      source: { topic: 'in', partition: 2, offset: '41' },
    };
    const r = parseDeadLetter({
      partition: 0,
      offset: '5',
      timestamp: '1000',
      value: Buffer.from(JSON.stringify(env)),
    });
    expect(r).toMatchObject({ reason: 'TRUNCATED', source: 'in/2/41', kind: 'frames', valueLength: 3 });
    const h = parseDeadLetter({
      partition: 0,
      offset: '6',
      timestamp: '1000',
      value: Buffer.from('not json'),
      headers: { 'gensemble-dlq-reason': Buffer.from('EMPTY_VALUE'), 'gensemble-dlq-source': 'in/0/1' },
    });
    expect(h).toMatchObject({ reason: 'EMPTY_VALUE', source: 'in/0/1', kind: '' });
  });
});

describe('model figures from the manifest', () => {
  it('summarises ensemble, training and the flag rule’s calibration', () => {
    const m = {
      version: 'v',
      kind: 'frames',
      scoreName: 'neg_logp',
      threshold: 250,
      manifest: {
        members: [{ seed: 1 }, { seed: 2 }],
        k: 16,
        trainingConfig: { steps: 150, nTrain: 3200, bestValIwae: [-19.689222645759582, -19.62] },
        thresholds: [
          { score: 'neg_waic', value: 20.4, targetFpr: 0.01, calibrationSize: 400 },
          { score: 'neg_logp', value: 250.123456789, targetFpr: 0.01, calibrationSize: 400 },
        ],
      },
    } as unknown as ModelVersion;
    expect(manifestFigures(m)).toEqual([
      '2 members, K = 16, 150 steps, 3200 training records',
      'validation IWAE per member: -19.6892, -19.62',
      'flags neg_logp > 250.123, target FPR 0.01 on 400 held-out normals',
      '2 calibrated scores',
    ]);
    expect(manifestFigures({ ...m, manifest: {} })).toEqual([]);
  });
});

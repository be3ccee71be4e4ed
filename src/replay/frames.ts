/**
 * Replay IDX images (e.g. MNIST t10k) into a Kafka topic as gensemble.ImageFrame records, mixing in
 * out-of-distribution frames at a given ratio: other data sets (notMNIST, Fashion-MNIST, Omniglot from
 * the data directory), uniform / Gaussian noise, and horizontal / vertical flips of the in-distribution
 * images. Every message is labelled in its headers — `ood` ("1"/"0"), `ood-kind` (the kind, or "none")
 * and `label` (class, when a labels file is known) — and in the record's `ood_kind` / `label` fields,
 * so a scored run can be evaluated afterwards.
 *
 * Library: `replayFrames(options)`. CLI: `gensemble replay frames --file PATH --ood-ratio 0.2 ...`.
 */
import { basename, dirname, join } from 'node:path';
import { readIdx } from '../data/idx.js';
import {
  loadFashionMnist,
  loadNotMnist,
  loadOmniglot,
  pathExists,
  type LabeledImages,
} from '../data/datasets.js';
import { Rng } from '../engine/random.js';
import { IMAGE_FRAME_SPEC, type ImageFrame, type RecordCodec } from '../schemas/index.js';
import { producerCodec } from './codec.js';
import { ReplayError } from './errors.js';
import {
  DATASET_OOD_KINDS,
  IN_DISTRIBUTION,
  OodMixer,
  gaussianFrame,
  hflipFrame,
  uniformFrame,
  vflipFrame,
  type Frame,
  type OodKind,
} from './ood-mix.js';
import {
  passThroughOptions,
  runReplay,
  type ReplayMessage,
  type ReplayPassThroughOptions,
  type ReplaySummary,
} from './runner.js';

export interface ReplayFramesOptions extends ReplayPassThroughOptions {
  /** IDX uint8 images [n, h, w] or, for colour frames, [n, h, w, c] (row-major HWC). */
  file: string;
  /** IDX uint8 labels [n]; default: the sibling *-labels-idx1-ubyte[.gz] file when it exists. */
  labelsFile?: string | null;
  oodRatio?: number;
  oodKinds?: readonly OodKind[];
  /** Where notmnist/fashion/omniglot are looked up (GENSEMBLE_DATA_DIR). */
  dataDir?: string;
  seed?: number;
  /** Prefix of record ids (`<prefix><n>`, n counts every frame sent). Default "frame-". */
  idPrefix?: string;
  schemaRegistryUrl?: string;
}

export interface ReplayFramesSummary extends ReplaySummary {
  /** Frames sent per `ood-kind` header value ("none" = in-distribution). */
  byKind: Record<string, number>;
}

/** The labels file next to an images file (MNIST naming), if there is one. */
export async function siblingLabelsFile(imagesFile: string): Promise<string | null> {
  const name = basename(imagesFile);
  if (!name.includes('images-idx3')) return null;
  const base = name.replace('images-idx3', 'labels-idx1').replace(/\.gz$/, '');
  for (const cand of [base + '.gz', base]) {
    const p = join(dirname(imagesFile), cand);
    if (await pathExists(p)) return p;
  }
  return null;
}

async function loadDatasetKind(kind: OodKind, dir: string | undefined, side: number): Promise<LabeledImages> {
  if (kind === 'notmnist') return loadNotMnist(dir);
  if (kind === 'fashion') return loadFashionMnist(dir, 'test');
  return loadOmniglot(dir, 'evaluation', { size: side });
}

export async function replayFrames(o: ReplayFramesOptions): Promise<ReplayFramesSummary> {
  const idx = await readIdx(o.file);
  if (idx.type !== 'uint8' || (idx.dims.length !== 3 && idx.dims.length !== 4)) {
    throw new ReplayError(
      'REPLAY_NOT_IMAGES',
      `${o.file}: expected an IDX file of uint8 images [n, h, w(, c)], got ${idx.type} with dims [${idx.dims.join(', ')}]`,
    );
  }
  const [n, height, width] = idx.dims;
  const channels = idx.dims[3] ?? 1;
  const pixels = idx.data as Uint8Array;
  const size = height * width * channels;
  if (n === 0) throw new ReplayError('REPLAY_EMPTY_INPUT', `${o.file} holds no images`);

  const labelsPath = o.labelsFile === undefined ? await siblingLabelsFile(o.file) : o.labelsFile;
  let labels: Uint8Array | null = null;
  if (labelsPath) {
    const l = await readIdx(labelsPath);
    if (l.type !== 'uint8' || l.dims.length !== 1 || l.dims[0] !== n) {
      throw new ReplayError(
        'REPLAY_BAD_LABELS',
        `${labelsPath}: expected ${n} uint8 labels, got ${l.type} with dims [${l.dims.join(', ')}]`,
      );
    }
    labels = l.data as Uint8Array;
  }

  const ratio = o.oodRatio ?? 0;
  const kinds = o.oodKinds ?? [];
  const seed = o.seed ?? 0;
  const mixer = new OodMixer(ratio, kinds, seed);
  if (ratio >= 1 && o.limit === undefined) {
    throw new ReplayError(
      'REPLAY_NEEDS_LIMIT',
      '--ood-ratio 1 sends only OoD frames and never ends a pass; give --limit',
    );
  }
  const pools = new Map<OodKind, LabeledImages>();
  if (ratio > 0) {
    for (const k of kinds) {
      if (!DATASET_OOD_KINDS.includes(k)) continue;
      if (channels !== 1)
        throw new ReplayError(
          'REPLAY_SHAPE',
          `OoD set ${k} is grayscale; the stream has ${channels}-channel frames (use noise or flips)`,
        );
      if (k === 'omniglot' && height !== width)
        throw new ReplayError(
          'REPLAY_SHAPE',
          `omniglot needs square in-distribution images, got ${height}×${width}`,
        );
      const set = await loadDatasetKind(k, o.dataDir, height);
      if (set.images.height !== height || set.images.width !== width) {
        throw new ReplayError(
          'REPLAY_SHAPE',
          `OoD set ${set.name} has ${set.images.height}×${set.images.width} images; the stream has ${height}×${width}`,
        );
      }
      pools.set(k, set);
    }
  }
  const pickRng = new Rng(seed ^ 0x0dd5eed);
  const noiseRng = new Rng(seed ^ 0x4e015e);
  const codec: RecordCodec<ImageFrame> = await producerCodec(
    IMAGE_FRAME_SPEC,
    o.topic,
    o.schemaRegistryUrl ?? '',
  );
  const prefix = o.idPrefix ?? 'frame-';
  const sourceName = basename(o.file);
  const inFrame = (i: number): Frame => ({
    width,
    height,
    channels,
    pixels: pixels.subarray(i * size, (i + 1) * size),
  });

  let counter = 0;
  let cursor = 0; // next in-distribution image
  function* pass(): Iterable<ReplayMessage> {
    // One pass = one walk over the in-distribution images, OoD frames interleaved.
    while (cursor < n) {
      const slot = mixer.next();
      let frame: Frame;
      let label: number | null = null;
      let source = sourceName;
      let sourceIndex: number;
      const oodKind = slot.ood ? slot.kind : IN_DISTRIBUTION;
      if (!slot.ood) {
        sourceIndex = cursor++;
        frame = inFrame(sourceIndex);
        label = labels ? labels[sourceIndex] : null;
      } else if (slot.kind === 'uniform' || slot.kind === 'gaussian') {
        sourceIndex = -1;
        frame =
          slot.kind === 'uniform'
            ? uniformFrame(width, height, noiseRng, channels)
            : gaussianFrame(width, height, noiseRng, channels);
        source = `noise-${slot.kind}`;
      } else if (slot.kind === 'hflip' || slot.kind === 'vflip') {
        sourceIndex = pickRng.int(n);
        frame = slot.kind === 'hflip' ? hflipFrame(inFrame(sourceIndex)) : vflipFrame(inFrame(sourceIndex));
        source = `${sourceName}:${slot.kind}`;
      } else {
        const set = pools.get(slot.kind) as LabeledImages;
        sourceIndex = pickRng.int(set.images.count);
        frame = {
          width,
          height,
          pixels: set.images.pixels.subarray(sourceIndex * size, (sourceIndex + 1) * size),
        };
        source = set.name;
      }
      const id = `${prefix}${counter++}`;
      const rec: ImageFrame = {
        id,
        source,
        width,
        height,
        channels,
        pixels: Buffer.from(frame.pixels.buffer, frame.pixels.byteOffset, frame.pixels.byteLength),
        event_time: Date.now(),
        label,
        ood_kind: slot.ood ? slot.kind : null,
      };
      const headers: Record<string, string> = {
        ood: slot.ood ? '1' : '0',
        'ood-kind': oodKind,
        'source-index': String(sourceIndex),
      };
      if (label !== null) headers.label = String(label);
      yield { key: id, value: codec.encode(rec), headers };
    }
    cursor = 0;
  }
  const byKind: Record<string, number> = {};
  const summary = await runReplay(pass, {
    ...passThroughOptions(o),
    ...(ratio < 1 ? { passSize: Math.round(n / (1 - ratio)) } : {}),
    onSent: (msgs) => {
      for (const m of msgs) byKind[m.headers['ood-kind']] = (byKind[m.headers['ood-kind']] ?? 0) + 1;
      o.onSent?.(msgs);
    },
  });
  return { ...summary, byKind };
}

"""PyTorch peer for benchmarks/engine-throughput/conv.ts: the same workload as gensemble's ONNX graph
for the paper's conv VAE (src/engine/spec.ts ConvArch) with a learned MAF prior: M members, IWAE-K with
fixed eps, Bernoulli likelihood, float32, inference mode, NCHW (PyTorch's native layout).

Encoder: conv5x5(base, s1), conv5x5(base, s2), conv5x5(2base, s1), conv5x5(2base, s2), conv7x7(4Dz,
valid), leaky_relu(0.2) each, then the mu/sigma heads; decoder: z as [Dz,1,1], deconv7x7(2base, valid),
deconv5x5(2base, s1), deconv5x5(2base, s2), deconv5x5(base, s1), deconv5x5(base, s2), deconv5x5(base,
s1), leaky_relu each, conv5x5(1) → logits; MAF: L MADE bijectors (hidden layers, masked weights are
plain dense weights here: the same multiply-adds), log-scale bound 3·tanh(·/3), permutations.
Weights are random: the cost does not depend on them.

Usage: python3 torch_conv_peer.py '{"base":8,"dz":16,"maf":[6,[64,64]],"m":5,"k":16,"batches":[64],
"threads":[1,2],"seconds":2}'. Prints one JSON object per line: first the BLAS library torch loaded
(from /proc/self/maps) and torch's sgemm peak, then one line per (threads, batch).
"""
import json, math, sys, time
import torch
from blas_probe import loaded_blas
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
LOG2PI = math.log(2 * math.pi)
A = 0.2


def rnd(*shape, g):
    fan = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
    return (torch.rand(*shape, generator=g) * 2 - 1) * math.sqrt(3 / fan)


def make_member(base, dz, maf, k, g):
    enc = [(1, base, 5, 1), (base, base, 5, 2), (base, 2 * base, 5, 1), (2 * base, 2 * base, 5, 2), (2 * base, 4 * dz, 7, 1)]
    dec = [(dz, 2 * base, 7, 1, 0, 0), (2 * base, 2 * base, 5, 1, 2, 0), (2 * base, 2 * base, 5, 2, 2, 1),
           (2 * base, base, 5, 1, 2, 0), (base, base, 5, 2, 2, 1), (base, base, 5, 1, 2, 0)]
    m = {
        "enc": [(rnd(co, ci, kk, kk, g=g), torch.zeros(co), s, 0 if kk == 7 else 2) for ci, co, kk, s in enc],
        "heads": (rnd(4 * dz, 2 * dz, g=g), torch.zeros(2 * dz)),
        # conv_transpose2d weight layout: [in, out, kh, kw]
        "dec": [(rnd(ci, co, kk, kk, g=g), torch.zeros(co), s, p, op) for ci, co, kk, s, p, op in dec],
        "out": (rnd(1, base, 5, 5, g=g), torch.zeros(1)),
        "eps": torch.randn(k, dz, generator=g),
        "maf": [],
    }
    layers, hidden = maf
    for _ in range(layers):
        dims = [dz, *hidden]
        hs = [(rnd(dims[i], dims[i + 1], g=g), torch.zeros(dims[i + 1])) for i in range(len(hidden))]
        o = (rnd(dims[-1], 2 * dz, g=g), torch.zeros(2 * dz))
        m["maf"].append((hs, o, torch.randperm(dz, generator=g)))
    return m


def log_prior(z, m, dz):
    y = z
    ld = torch.zeros(z.shape[0])
    for hs, (wo, bo), perm in m["maf"]:
        a = y
        for w, b in hs:
            a = torch.relu(torch.addmm(b, a, w))
        o = torch.addmm(bo, a, wo)
        shift, ls = o[:, :dz], 3 * torch.tanh(o[:, dz:] / 3)
        u = (y - shift) * torch.exp(-ls)
        ld = ld - ls.sum(1)
        y = u[:, perm]
    return -0.5 * y.pow(2).sum(1) - dz / 2 * LOG2PI + ld


def member_scores(x, m, k, dz):
    n = x.shape[0]
    h = x.reshape(n, 1, 28, 28)
    for w, b, s, p in m["enc"]:
        h = F.leaky_relu(F.conv2d(h, w, b, stride=s, padding=p), A)
    wh, bh = m["heads"]
    hd = torch.addmm(bh, h.reshape(n, -1), wh)
    mu, sigma = hd[:, :dz], F.softplus(hd[:, dz:]) + 1e-4
    eps = m["eps"]
    z = mu[:, None, :] + sigma[:, None, :] * eps[None]
    logq = (-0.5 * eps.pow(2).sum(1) - dz / 2 * LOG2PI)[None, :] - torch.log(sigma).sum(1, keepdim=True)
    zf = z.reshape(-1, dz)
    logpz = log_prior(zf, m, dz).reshape(n, k)
    g = zf.reshape(-1, dz, 1, 1)
    for w, b, s, p, op in m["dec"]:
        g = F.leaky_relu(F.conv_transpose2d(g, w, b, stride=s, padding=p, output_padding=op), A)
    wo, bo = m["out"]
    out = F.conv2d(g, wo, bo, padding=2).reshape(n, k, -1)
    ll = (x[:, None, :] * out).sum(2) - F.softplus(out).sum(2)
    logw = ll + logpz - logq
    return torch.logsumexp(logw, 1) - math.log(k), (logq - logpz).mean(1)


def ensemble(x, members, k, dz):
    res = [member_scores(x, m, k, dz) for m in members]
    logp = torch.stack([r[0] for r in res], 1)
    mean = logp.mean(1)
    return logp, mean, ((logp - mean[:, None]) ** 2).mean(1), torch.stack([r[1] for r in res], 1).mean(1)


def timed(fn, seconds):
    fn()
    t0 = time.perf_counter(); c0 = time.process_time(); it = 0
    while True:
        fn(); it += 1
        el = time.perf_counter() - t0
        if el >= seconds or it >= 10000:
            return el / it, (time.process_time() - c0) / it


torch.set_num_interop_threads(1)
print(json.dumps({"kind": "blas", "libs": loaded_blas(), "torch": torch.__version__}), flush=True)
for t in cfg["threads"]:
    torch.set_num_threads(t)
    a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
    with torch.inference_mode():
        s, c = timed(lambda: torch.mm(a, b), 2.0)
    print(json.dumps({"kind": "peak", "threads": t, "gflops": 2 * 2048 ** 3 / s / 1e9, "gflopsCpu": 2 * 2048 ** 3 / c / 1e9}), flush=True)
    g = torch.Generator().manual_seed(1)
    members = [make_member(cfg["base"], cfg["dz"], cfg["maf"], cfg["k"], g) for _ in range(cfg["m"])]
    for n in cfg["batches"]:
        x = torch.rand(n, 784, generator=g)
        with torch.inference_mode():
            s, c = timed(lambda: ensemble(x, members, cfg["k"], cfg["dz"]), cfg["seconds"])
        print(json.dumps({"kind": "score", "threads": t, "batch": n, "rps": n / s, "rpsCpu": n / c}), flush=True)

"""Credit diagnostic (validation frauds only), run with Debian's python3-torch as a peer, not product code:
does a decoder whose scale depends on z (a heteroscedastic Gaussian or Student-t likelihood) rank the
validation frauds better than the product's per-feature learned scale?

Same MLP as the transactions kind (encoder 32, decoder 30 hidden units, ReLU, latent 8), trained the
same way (Adam 1e-3, batch 128, 5,000 steps, KL warm-up over 1,000, early stopping every 500 steps on
the IWAE of 2,000 training normals kept out of the fit). The two variants differ only in the decoder's
scale: `homo` a learned vector scale_raw [29] (the product's), `hetero` a linear head on the decoder's
hidden layer (initialised to zero, so both start at scale 1). Score: -(IWAE-16 log p), averaged over
the members. Reads the files of dump-features.ts; the test frauds are never read.

    GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/dump-features.ts /tmp/credit-dump
    /usr/bin/python3 benchmarks/credit-fraud/hetero-diagnostic.py /tmp/credit-dump [members] [--sizes | --objectives]

With --sizes it answers a second question instead, with the product's decoder (homo-gauss): does the
ranking of validation frauds improve with more training normals? The fit set is cut to its first 1/8,
1/4, 1/2 and all of its records (the same early-stopping records for every size).

With --objectives, a third question, again with the product's decoder: does the training objective
matter? The ELBO from 1 posterior sample per record (the product's default), the ELBO averaged over 16
samples (the authors' `n_samples` = 16 in vae_wgan/vae/model.py), and the IWAE-16 bound.
"""
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
F = 29
NU = 4.0
STUDENT_LOG_NORM = math.log(3 / 8)  # ν = 4, as the product's STUDENT_NU
SCALE_SHIFT = math.log(math.e - 1)  # softplus(SCALE_SHIFT) = 1


def blas_loaded():
    with open('/proc/self/maps') as f:
        libs = {l.split()[-1] for l in f if 'blas' in l.lower() or 'lapack' in l.lower()}
    return ', '.join(sorted(libs)) or 'none mapped'


class VAE(nn.Module):
    def __init__(self, hetero, lik, eh=32, dh=30, z=8):
        super().__init__()
        self.hetero, self.lik, self.z = hetero, lik, z
        self.enc = nn.Sequential(nn.Linear(F, eh), nn.ReLU())
        self.mu, self.sg = nn.Linear(eh, z), nn.Linear(eh, z)
        self.dec = nn.Sequential(nn.Linear(z, dh), nn.ReLU())
        self.out = nn.Linear(dh, F)
        if hetero:
            self.scale_head = nn.Linear(dh, F)
            nn.init.zeros_(self.scale_head.weight)
            nn.init.zeros_(self.scale_head.bias)
        else:
            self.scale_raw = nn.Parameter(torch.zeros(F))

    def log_px(self, x, zs):
        h = self.dec(zs)
        mean = self.out(h)
        raw = self.scale_head(h) if self.hetero else self.scale_raw
        scale = nn.functional.softplus(raw + SCALE_SHIFT) + 1e-3
        r = (x.unsqueeze(1) - mean) / scale
        if self.lik == 'gauss':
            lp = -0.5 * r * r - torch.log(scale) - 0.5 * math.log(2 * math.pi)
        else:
            lp = STUDENT_LOG_NORM - 0.5 * (NU + 1) * torch.log1p(r * r / NU) - torch.log(scale)
        return lp.sum(-1)

    def forward(self, x, k):
        h = self.enc(x)
        mu, sd = self.mu(h), nn.functional.softplus(self.sg(h)) + 1e-4
        eps = torch.randn(x.shape[0], k, self.z)
        zs = mu.unsqueeze(1) + sd.unsqueeze(1) * eps
        log_q = (-0.5 * eps * eps - torch.log(sd).unsqueeze(1) - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_pz = (-0.5 * zs * zs - 0.5 * math.log(2 * math.pi)).sum(-1)
        return self.log_px(x, zs), log_pz, log_q


def iwae(m, x, k=16):
    with torch.no_grad():
        lpx, lpz, lq = m(x, k)
        return torch.logsumexp(lpx + lpz - lq, 1) - math.log(k)


def train(m, fit, early, seed, steps=5000, objective='elbo1'):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    best, state = -math.inf, None
    for t in range(steps):
        idx = torch.randint(0, fit.shape[0], (128,), generator=g)
        k = 1 if objective == 'elbo1' else 16
        lpx, lpz, lq = m(fit[idx], k)
        beta = min(1.0, (t + 1) / 1000)
        w = lpx + beta * (lpz - lq)  # [batch, k]
        if objective == 'iwae16':
            loss = -(torch.logsumexp(w, 1) - math.log(k)).mean()
        else:
            loss = -w.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (t + 1) % 500 == 0:
            v = iwae(m, early).mean().item()
            if v > best:
                best, state = v, {k: p.clone() for k, p in m.state_dict().items()}
    m.load_state_dict(state)
    return m


def auroc(neg, pos):
    s = np.concatenate([neg, pos])
    r = s.argsort().argsort() + 1.0
    return (r[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2) / (len(neg) * len(pos))


def fpr95(neg, pos):
    return float((neg >= np.quantile(pos, 0.05)).mean())


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    sizes = '--sizes' in sys.argv
    objectives = '--objectives' in sys.argv
    d = args[0]
    members = int(args[1]) if len(args) > 1 else 1
    load = lambda s, p: torch.from_numpy(np.fromfile(f'{d}/s{s}-{p}.f64').reshape(-1, F).astype(np.float32))
    print(f'torch {torch.__version__}; BLAS/LAPACK mapped: {blas_loaded()}; {members} member(s) per variant and split', flush=True)
    # a variant: (hetero, likelihood, fraction of the fit set, training objective)
    if sizes:
        variants = [(False, 'gauss', f, 'elbo1') for f in (0.125, 0.25, 0.5, 1.0)]
        name = lambda v: f'homo-gauss, {v[2]:g} of the fit set'
    elif objectives:
        variants = [(False, 'gauss', 1.0, o) for o in ('elbo1', 'elbo16', 'iwae16')]
        name = lambda v: f'homo-gauss, {v[3]}'
    else:
        variants = [(h, l, 1.0, 'elbo1') for l in ('gauss', 'student') for h in (False, True)]
        name = lambda v: f'{"hetero" if v[0] else "homo"}-{v[1]}'
    res = {v: [] for v in variants}
    for split in range(5):
        tr, vn, vf = load(split, 'train'), load(split, 'valn'), load(split, 'valf')
        fit, early = tr[:-2000], tr[-2000:]
        for v in variants:
            t0 = time.time()
            sn, sf = 0.0, 0.0
            for k in range(members):
                seed = 1000 * split + k
                torch.manual_seed(seed)
                m = train(VAE(v[0], v[1]), fit[: int(round(v[2] * fit.shape[0]))], early, seed, objective=v[3])
                sn = sn - iwae(m, vn).numpy() / members
                sf = sf - iwae(m, vf).numpy() / members
            res[v].append((100 * auroc(sn, sf), 100 * fpr95(sn, sf)))
            print(f'split {split} {name(v)}: AUROC {res[v][-1][0]:.2f} FPR95 {res[v][-1][1]:.1f}; '
                  f'mean validation-normal log p {-sn.mean():.2f} ({time.time() - t0:.0f} s)', flush=True)
    what = 'decoder, training normals' if sizes else 'decoder, objective' if objectives else 'decoder scale, likelihood'
    print(f'\n| {what} | validation AUROC per split | mean | validation FPR95 per split | mean |')
    print('| --- | --- | ---: | --- | ---: |')
    for v in variants:
        a = np.array([r[0] for r in res[v]])
        f = np.array([r[1] for r in res[v]])
        print(f'| {name(v)} | {" / ".join(f"{x:.1f}" for x in a)} | {a.mean():.2f} | '
              f'{" / ".join(f"{x:.1f}" for x in f)} | {f.mean():.1f} |')


if __name__ == '__main__':
    main()

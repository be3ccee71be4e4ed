"""Which BLAS/MKL libraries torch has mapped into this process (shared by the PyTorch peers): printed
so a reader can see the peer runs on OpenBLAS, not Debian's reference BLAS (~40x slower)."""
import torch


def loaded_blas():
    torch.mm(torch.randn(64, 64), torch.randn(64, 64))
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1] if "/" in line else ""
            name = p.rsplit("/", 1)[-1]
            if "blas" in name or "mkl" in name.lower():
                libs.add(p)
    return sorted(libs)

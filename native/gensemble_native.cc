// gensemble's fused scorer for MLP VAE ensembles with a standard prior (the credit / tabular shape).
//
// The math is src/engine/spec.ts, exactly as the ONNX graph (src/engine/onnx/export.ts) computes it;
// the difference is the schedule. onnxruntime runs each operator over the whole [N·K, D] batch, so the
// decoder's outputs go to memory and come back once per operator (memory-bound for small D). Here one
// record at a time goes through a member: its K latent samples, the decoder's [K, H] and [K, D] tiles
// and the likelihood reduction stay in L1, and the log-sum-exp over K follows at once. Records are
// split over threads; no allocation in the loop.
//
// N-API (C, node_api.h) only: no node-addon-api, no node-gyp. Built by scripts/build-native.mjs.
// Vector code uses GCC/Clang vector extensions (8 or 16 floats), which compile to AVX on x86-64 and to pairs
// of NEON registers on arm64; no intrinsics.
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

// Vector width: 16 floats (one zmm register) where the compiler targets AVX-512, else 8 (one AVX
// register, or two NEON registers); -DGENSEMBLE_VW=8|16 overrides. On this machine's AMD EPYC
// (AVX-512, 2026-12-06) 16 lanes scored the credit shape 1.7x faster than 8. The names v8/vi8 stand
// for "one vector" whatever its width.
#if defined(GENSEMBLE_VW)
#define GENSEMBLE_VWIDTH GENSEMBLE_VW
#elif defined(__AVX512F__)
#define GENSEMBLE_VWIDTH 16
#else
#define GENSEMBLE_VWIDTH 8
#endif
constexpr int VW = GENSEMBLE_VWIDTH;
typedef float v8 __attribute__((vector_size(VW * 4), aligned(VW * 4)));
typedef int32_t vi8 __attribute__((vector_size(VW * 4), aligned(VW * 4)));
constexpr double LOG_2PI = 1.8378770664093453;
constexpr double SIGMA_MIN = 1e-4;
constexpr double SCALE_MIN = 1e-3;
constexpr double STUDENT_NU = 4.0;
const double STUDENT_LOG_NORM = std::log(3.0 / 8.0);

// MIXED (ABI 3): gaussian on the continuous columns, bernoulli on the columns the config lists
enum Likelihood { BERNOULLI = 0, GAUSSIAN = 1, STUDENT = 2, MIXED = 3 };
// T_MINMAX_IND: minmax whose constant features (range 0) are indicators, |x − min|·2^20 clipped (ABI 2)
// T_STANDARD_IND: standard whose constant features (std ≤ 1e-6) are indicators, min(|x − mean|·2^20, 2^10)
enum TransformKind { T_SCALE = 0, T_MINMAX = 1, T_STANDARD = 2, T_MINMAX_IND = 3, T_STANDARD_IND = 4 };

inline int pad8(int n) { return (n + VW - 1) / VW * VW; }  // to whole vectors

// 64-byte aligned float buffer, zero-filled.
struct Buf {
  float* p = nullptr;
  size_t n = 0;
  Buf() = default;
  explicit Buf(size_t count) { reset(count); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Buf(Buf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; o.n = 0; }
  Buf& operator=(Buf&& o) noexcept {
    std::swap(p, o.p);
    std::swap(n, o.n);
    return *this;
  }
  ~Buf() { std::free(p); }
  void reset(size_t count) {
    std::free(p);
    n = count;
    size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
    p = static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes == 0 ? 64 : bytes);
  }
};

// A dense layer y = x·W + b with W [in, out] stored padded: [inP, outP], zero outside [in, out].
struct Dense {
  int in = 0, out = 0, inP = 0, outP = 0;
  Buf w, b;
};

struct Member {
  std::vector<Dense> enc;  // hidden layers (relu)
  Dense mu, sigma;
  std::vector<Dense> dec;  // hidden layers (relu)
  Dense out;               // output layer (linear); gaussian: columns divided by s_d
  Buf invScale;            // gaussian: 1/s_d (padded with 0); student-t: 1/s_d; mixed: 1 on binary columns
  Buf eps;                 // [K, DzP], zero padded
  std::vector<double> logqConst;  // per k: Σ_j -0.5 eps² - Dz/2·log 2π
  double lpxConst = 0;     // per record: Σ_d -log s_d (+ per-likelihood constants)
};

struct Model {
  int D = 0, DP = 0, Dz = 0, DzP = 0, K = 0, M = 0;
  int like = GAUSSIAN;
  int tkind = T_SCALE;
  float factor = 1;
  std::vector<float> ta, tb;      // minmax: min, range(safe); standard: mean, std
  std::vector<float> nonzero;     // minmax: 0 where the range is 0
  std::vector<float> period;      // 0 = column not wrapped
  bool anyWrap = false;
  std::vector<int> binary;        // mixed: the bernoulli columns
  Buf binMask;  // mixed: 1 on the binary columns, 0 elsewhere (the continuous ones are 1 − binMask:
                // x and o are 0 on the padding, as the gaussian path relies on too)
  std::vector<Member> members;
  int maxWidthP = 0;              // widest padded layer
};

// ---- kernels ---------------------------------------------------------------------------------------

inline v8 vload(const float* p) { return *reinterpret_cast<const v8*>(p); }
inline void vstore(float* p, v8 v) { *reinterpret_cast<v8*>(p) = v; }
// f in every lane: scalar − zero vector is one broadcast (f − 0 = f exactly, −0 and NaN included); a
// lane-by-lane loop compiles to VW masked inserts with 16 lanes.
inline v8 vsplat(float f) { return f - v8{}; }
// |v| (clears the sign bit).
inline v8 vabs(v8 v) { return reinterpret_cast<v8>(reinterpret_cast<vi8>(v) & ~reinterpret_cast<vi8>(vsplat(-0.f))); }

// relu that keeps NaN (like onnxruntime's Relu): zero only where v < 0.
inline v8 vrelu(v8 v) {
  vi8 neg = v < vsplat(0.f);
  return reinterpret_cast<v8>(reinterpret_cast<vi8>(v) & ~neg);
}

// Rows per register block for NV vectors of columns: R·NV accumulators, NV weight vectors and a
// broadcast must fit the register file (32 vector registers with AVX-512 or on arm64, else 16).
#if defined(__AVX512VL__) || defined(__aarch64__)
constexpr int rowsPerBlock(int nv) { return nv <= 2 ? 8 : 4; }
#else
constexpr int rowsPerBlock(int nv) { return nv <= 2 ? 4 : 2; }
#endif

// Pins a vector in one register (an empty asm that "modifies" it), where one register holds it: AVX
// (ymm) for 8 lanes, AVX-512 (zmm) for 16; elsewhere (SSE, NEON: two registers per vector) a no-op.
#if defined(__x86_64__) && GENSEMBLE_VWIDTH == 16 && defined(__AVX512F__)
#define KEEP_IN_REGISTER(v) __asm__("" : "+v"(v))
#elif defined(__x86_64__) && GENSEMBLE_VWIDTH == 8 && defined(__AVX__)
#define KEEP_IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define KEEP_IN_REGISTER(v) (void)0
#endif

// C[r, col:col+VW·NV] = (relu?)(b + A[r, :in]·W) for r < rows, with R rows per block (R ≤ RB). A rows
// have stride lda, C rows ldc; W is [·, outP]. The contraction runs over the layer's real input width
// (the padded inputs are zero and their weight rows too).
template <int NV, int R>
inline void denseRows(const float* A, int lda, int in, const float* W, int outP, int col, const float* b,
                      float* C, int ldc, bool relu) {
  v8 acc[R][NV];
  for (int q = 0; q < R; q++)
    for (int v = 0; v < NV; v++) acc[q][v] = vload(b + col + v * VW);
  for (int i = 0; i < in; i++) {
    const float* w = W + (size_t)i * outP + col;
    v8 wv[NV];
    for (int v = 0; v < NV; v++) {
      wv[v] = vload(w + v * VW);
      // keep the weight vector in a register: otherwise the compiler folds the load into each row's
      // FMA and the kernel becomes load-bound (measured 1.4x on the credit shape)
      KEEP_IN_REGISTER(wv[v]);
    }
    for (int q = 0; q < R; q++) {
      const v8 sq = vsplat(A[(size_t)q * lda + i]);
      for (int v = 0; v < NV; v++) acc[q][v] += sq * wv[v];
    }
  }
  for (int q = 0; q < R; q++)
    for (int v = 0; v < NV; v++) vstore(C + (size_t)q * ldc + col + v * VW, relu ? vrelu(acc[q][v]) : acc[q][v]);
}

template <int NV>
inline void denseCols(const float* A, int rows, int lda, int in, const float* W, int outP, int col, const float* b,
                      float* C, int ldc, bool relu) {
  constexpr int RB = rowsPerBlock(NV);
  int r = 0;
  for (; r + RB <= rows; r += RB)
    denseRows<NV, RB>(A + (size_t)r * lda, lda, in, W, outP, col, b, C + (size_t)r * ldc, ldc, relu);
  for (; r < rows; r++) denseRows<NV, 1>(A + (size_t)r * lda, lda, in, W, outP, col, b, C + (size_t)r * ldc, ldc, relu);
}

inline void dense(const Dense& L, const float* A, int rows, int lda, float* C, int ldc, bool relu) {
  int col = 0;
  const float* W = L.w.p;
  const float* b = L.b.p;
  for (; col + 4 * VW <= L.outP; col += 4 * VW) denseCols<4>(A, rows, lda, L.in, W, L.outP, col, b, C, ldc, relu);
  switch ((L.outP - col) / VW) {
    case 3: denseCols<3>(A, rows, lda, L.in, W, L.outP, col, b, C, ldc, relu); break;
    case 2: denseCols<2>(A, rows, lda, L.in, W, L.outP, col, b, C, ldc, relu); break;
    case 1: denseCols<1>(A, rows, lda, L.in, W, L.outP, col, b, C, ldc, relu); break;
    default: break;
  }
}

// exp(x) for x ≤ 0 (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2^n from the
// exponent bits); about 1 ulp. Below -87 it returns ~0 (callers only need 1 + exp(x) or sums of
// exp(x − max)). NaN stays NaN.
inline v8 vexpNeg(v8 x) {
  const v8 lo = vsplat(-87.0f);
  vi8 under = x < lo;
  x = reinterpret_cast<v8>((reinterpret_cast<vi8>(x) & ~under) | (reinterpret_cast<vi8>(lo) & under));
  const v8 magic = vsplat(12582912.0f);  // 1.5·2^23: adding and subtracting rounds to an integer
  v8 n = (x * vsplat(1.44269504088896341f) + magic) - magic;
  v8 r = x - n * vsplat(0.693359375f);
  r = r - n * vsplat(-2.12194440e-4f);
  v8 p = vsplat(1.9875691500E-4f);
  p = p * r + vsplat(1.3981999507E-3f);
  p = p * r + vsplat(8.3334519073E-3f);
  p = p * r + vsplat(4.1665795894E-2f);
  p = p * r + vsplat(1.6666665459E-1f);
  p = p * r + vsplat(5.0000001201E-1f);
  const v8 y = p * r * r + r + vsplat(1.0f);
  const vi8 e = (__builtin_convertvector(n, vi8) + 127) << 23;
  return y * reinterpret_cast<v8>(e);
}

// log(x) for normal x > 0 (Cephes logf: x = m·2^e, m in [√½, √2), degree-8 polynomial in m − 1);
// about 1 ulp. Used on products of factors in [1, 2] and on sigma ≥ 1e-4, never on 0, negatives or
// subnormals; +inf and NaN map to themselves.
inline v8 vlogPos(v8 x) {
  const vi8 bits = reinterpret_cast<vi8>(x);
  vi8 e = ((bits >> 23) & 0xff) - 126;
  v8 m = reinterpret_cast<v8>((bits & 0x007fffff) | 0x3f000000);  // m in [0.5, 1)
  const vi8 small = m < vsplat(0.70710678118654752f);
  // m < √½: use 2m, e − 1
  e = e + small;  // small is −1 where true
  m = reinterpret_cast<v8>((reinterpret_cast<vi8>(m + m) & small) | (reinterpret_cast<vi8>(m) & ~small));
  const v8 t = m - vsplat(1.f);
  v8 p = vsplat(7.0376836292E-2f);
  p = p * t + vsplat(-1.1514610310E-1f);
  p = p * t + vsplat(1.1676998740E-1f);
  p = p * t + vsplat(-1.2420140846E-1f);
  p = p * t + vsplat(1.4249322787E-1f);
  p = p * t + vsplat(-1.6668057665E-1f);
  p = p * t + vsplat(2.0000714765E-1f);
  p = p * t + vsplat(-2.4999993993E-1f);
  p = p * t + vsplat(3.3333331174E-1f);
  const v8 t2 = t * t;
  const v8 fe = __builtin_convertvector(e, v8);
  v8 y = p * t * t2 + fe * vsplat(-2.12194440e-4f) - vsplat(0.5f) * t2;
  const v8 r = t + y + fe * vsplat(0.693359375f);
  // IEEE at the ends, like std::log: log(+inf) = +inf, log(NaN) = NaN (overflowed layers must stay
  // non-finite, not turn into a plausible number)
  const vi8 special = (x != x) | (x == vsplat(INFINITY));
  return reinterpret_cast<v8>((reinterpret_cast<vi8>(x) & special) | (reinterpret_cast<vi8>(r) & ~special));
}

// Runs `rows` rows of width `width` through relu layers, alternating between buffers a and b; returns
// the last layer's output (the input itself when there are no layers) and sets width to its width.
inline const float* hiddenLayers(const std::vector<Dense>& layers, const float* in, int rows, int& width, float* a,
                                 float* b) {
  const float* h = in;
  float* bufs[2] = {a, b};
  int which = 0;
  for (const Dense& L : layers) {
    dense(L, h, rows, width, bufs[which], L.outP, true);
    h = bufs[which];
    width = L.outP;
    which ^= 1;
  }
  return h;
}

inline double softplus(double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

// Sum of the lanes as a tree (log2(VW) dependent adds).
inline float hsum(v8 v) {
  float t[VW];
  for (int q = 0; q < VW; q++) t[q] = v[q];
  for (int w = VW / 2; w >= 1; w /= 2)
    for (int q = 0; q < w; q++) t[q] += t[q + w];
  return t[0];
}

constexpr int BLOCK = 8;  // records per block: the encoder runs on [BLOCK, ·] rows

// Per-thread scratch.
struct Scratch {
  Buf x, xs, h0, h1, mu, sg, z, g0, g1, lin, lpx, prod;
  std::vector<double> logw;
  explicit Scratch(const Model& m)
      : x((size_t)BLOCK * m.DP), xs(m.DP), h0((size_t)BLOCK * m.maxWidthP), h1((size_t)BLOCK * m.maxWidthP),
        mu((size_t)BLOCK * m.DzP), sg((size_t)BLOCK * m.DzP), z((size_t)m.K * m.DzP),
        g0((size_t)m.K * m.maxWidthP), g1((size_t)m.K * m.maxWidthP), lin((size_t)m.K * m.DP), lpx(pad8(m.K)),
        prod(pad8(m.K)),
        logw(m.K) {}
};

// log p(x|z_k) for the K rows of o [K, DP] into s.lpx, for one transformed record x.
inline void likelihoods(const Model& md, const Member& mb, const float* x, float* o, Scratch& s) {
  const int D = md.D, DP = md.DP, K = md.K;
  if (md.like == GAUSSIAN) {
    // o's columns are already divided by s_d; x/s_d once per record
    for (int d = 0; d < DP; d += VW) vstore(s.xs.p + d, vload(x + d) * vload(mb.invScale.p + d));
    for (int k = 0; k < K; k++) {
      const float* ok = o + (size_t)k * DP;
      v8 acc = vsplat(0.f);
      for (int d = 0; d < DP; d += VW) {
        const v8 rr = vload(s.xs.p + d) - vload(ok + d);
        acc += rr * rr;
      }
      s.lpx.p[k] = (float)(-0.5 * (double)hsum(acc) + mb.lpxConst);
    }
  } else if (md.like == MIXED) {
    // continuous columns as gaussian (o's columns divided by s_d; the squares masked to them), binary
    // columns (unscaled) as the bernoulli path: x·o − max(o, 0) − log(1 + e^{−|o|}), the logs as the
    // log of a product per lane of factors in [1, 2] (1 on the continuous columns and the padding)
    for (int d = 0; d < DP; d += VW) vstore(s.xs.p + d, vload(x + d) * vload(mb.invScale.p + d));
    for (int k = 0; k < K; k++) {
      const float* ok = o + (size_t)k * DP;
      v8 accG = vsplat(0.f), accB = vsplat(0.f), prod = vsplat(1.f);
      for (int d = 0, it = 0; d < DP; d += VW, it++) {
        const v8 od = vload(ok + d), xd = vload(s.xs.p + d), bm = vload(md.binMask.p + d);
        const v8 a = vabs(od);
        const v8 rr = xd - od;
        accG += rr * rr * (vsplat(1.f) - bm);
        accB += (xd * od - vsplat(0.5f) * (od + a)) * bm;
        prod *= vsplat(1.f) + vexpNeg(-a) * bm;
        if (it % 16 == 15) {
          accB -= vlogPos(prod);
          prod = vsplat(1.f);
        }
      }
      accB -= vlogPos(prod);
      s.lpx.p[k] = (float)(-0.5 * (double)hsum(accG) + mb.lpxConst + (double)hsum(accB));
    }
  } else if (md.like == STUDENT) {
    // Σ log(1 + r²/ν), a vector log per VW values (float32, as the graph; the padded columns give
    // r = 0 and log 1 = 0)
    const v8 invNu = vsplat((float)(1.0 / STUDENT_NU));
    for (int k = 0; k < K; k++) {
      const float* ok = o + (size_t)k * DP;
      v8 acc = vsplat(0.f);
      for (int d = 0; d < DP; d += VW) {
        const v8 rr = (vload(x + d) - vload(ok + d)) * vload(mb.invScale.p + d);
        acc += vlogPos(vsplat(1.f) + rr * rr * invNu);
      }
      s.lpx.p[k] = (float)(-((STUDENT_NU + 1) / 2) * (double)hsum(acc) + mb.lpxConst);
    }
  } else {
    // Σ x·o − softplus(o), softplus(o) = max(o, 0) + log(1 + e^{−|o|}). First over the whole [K, DP]
    // tile as independent vectors (o is overwritten by 1 + e^{−|o|}), then per row the logs as the log
    // of a product per lane (factors in [1, 2]; at most 16 factors before a log), so one vector log
    // per 128 values instead of a log per value.
    float* t = s.lin.p;
    for (int k = 0; k < K; k++) {
      float* ok = o + (size_t)k * DP;
      float* tk = t + (size_t)k * DP;
      for (int d = 0; d < DP; d += VW) {
        const v8 od = vload(ok + d);
        const v8 a = vabs(od);
        vstore(tk + d, vload(x + d) * od - vsplat(0.5f) * (od + a));          // x·o − max(o, 0)
        vstore(ok + d, vsplat(1.f) + vexpNeg(-a));
      }
    }
    for (int k = 0; k < K; k++) {
      const float* fk = o + (size_t)k * DP;
      const float* tk = t + (size_t)k * DP;
      v8 acc = vsplat(0.f), prod = vsplat(1.f);
      for (int d = 0, it = 0; d < DP; d += VW, it++) {
        acc += vload(tk + d);
        prod *= vload(fk + d);
        if (it % 16 == 15) {
          acc -= vlogPos(prod);
          prod = vsplat(1.f);
        }
      }
      acc -= vlogPos(prod);
      // the padded columns (o = 0, x = 0) each put a factor 2 into the product
      s.lpx.p[k] = (float)((double)hsum(acc) + (DP - D) * 0.6931471805599453);
    }
  }
}

// Scores records [begin, end) of x (raw, [n, D]) into the outputs.
void scoreRange(const Model& md, const float* xRaw, int64_t begin, int64_t end, float* outLogp,
                float* outRate, float* outMean, float* outVar, float* outWaic, float* outRateMean) {
  Scratch s(md);
  const int D = md.D, DP = md.DP, Dz = md.Dz, DzP = md.DzP, K = md.K, M = md.M;
  const double logK = std::log((double)K);
  std::vector<double> lp((size_t)BLOCK * M), rt((size_t)BLOCK * M), sumLogSigma(BLOCK);
  for (int64_t r0 = begin; r0 < end; r0 += BLOCK) {
    const int nb = (int)std::min<int64_t>(BLOCK, end - r0);
    // feature transform (float32, as the graph: wrap by fmod, then (x-a)/b, clip for minmax)
    for (int q = 0; q < nb; q++) {
      const float* raw = xRaw + (r0 + q) * D;
      float* xq = s.x.p + (size_t)q * DP;
      for (int d = 0; d < D; d++) {
        float v = raw[d];
        if (md.anyWrap && md.period[d] != 0.f) v = std::fmod(v, md.period[d]);
        if (md.tkind == T_SCALE) v = v * md.factor;
        else if (md.tkind == T_STANDARD) v = (v - md.ta[d]) / md.tb[d];
        else if (md.tkind == T_STANDARD_IND) {
          if (md.nonzero[d] == 0.f) {
            // a constant feature's indicator, as the graph: Abs, Mul by 2^20, Min(·, 2^10)
            const float a = std::fabs(v - md.ta[d]) * 1048576.f;
            v = a < 1024.f ? a : 1024.f;
          } else
            v = (v - md.ta[d]) / md.tb[d];
        }
        else {
          v = (v - md.ta[d]) / md.tb[d];
          // a constant feature's indicator: |v| as onnxruntime's Max(v, −v) gives it, times 2^20 (exact)
          if (md.tkind == T_MINMAX_IND && md.nonzero[d] == 0.f) v = (v > -v ? v : -v) * 1048576.f;
          v = v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
          if (md.tkind == T_MINMAX) v = v * md.nonzero[d];
        }
        xq[d] = v;
      }
    }
    // a short last block is padded with zero rows: the encoder always runs on BLOCK rows, so every
    // record takes the same code path (and gets the same bits) whatever batch or thread it came in
    for (int q = nb; q < BLOCK; q++) std::fill(s.x.p + (size_t)q * DP, s.x.p + (size_t)(q + 1) * DP, 0.f);
    for (int m = 0; m < M; m++) {
      const Member& mb = md.members[m];
      // encoder on the block's rows
      int hw = DP;
      const float* h = hiddenLayers(mb.enc, s.x.p, BLOCK, hw, s.h0.p, s.h1.p);
      dense(mb.mu, h, BLOCK, hw, s.mu.p, DzP, false);
      dense(mb.sigma, h, BLOCK, hw, s.sg.p, DzP, false);
      // sigma = softplus(·) + SIGMA_MIN = max(v, 0) + log(1 + e^{−|v|}) + SIGMA_MIN, and Σ log sigma,
      // a vector at a time (float32, as the graph); the padded latent columns are zeroed
      for (int q = 0; q < nb; q++) {
        float* sq = s.sg.p + (size_t)q * DzP;
        float* mq = s.mu.p + (size_t)q * DzP;
        v8 lsum = vsplat(0.f);
        for (int j = 0; j < DzP; j += VW) {
          const v8 v = vload(sq + j);
          const v8 a = vabs(v);
          const v8 sp = vsplat(0.5f) * (v + a) + vlogPos(vsplat(1.f) + vexpNeg(-a)) + vsplat((float)SIGMA_MIN);
          const v8 ls = vlogPos(sp);
          for (int l = 0; l < VW; l++) {
            const bool real = j + l < Dz;
            sq[j + l] = real ? sp[l] : 0.f;
            if (!real) mq[j + l] = 0.f;
            if (real) lsum[l] += ls[l];
          }
        }
        sumLogSigma[q] = (double)hsum(lsum);
      }
      for (int q = 0; q < nb; q++) {
        const float* mq = s.mu.p + (size_t)q * DzP;
        const float* sq = s.sg.p + (size_t)q * DzP;
        // K latent samples z_k = mu + sigma ⊙ eps_k  [K, DzP]
        for (int k = 0; k < K; k++) {
          const float* e = mb.eps.p + (size_t)k * DzP;
          float* zk = s.z.p + (size_t)k * DzP;
          for (int j = 0; j < DzP; j++) zk[j] = mq[j] + sq[j] * e[j];
        }
        // decoder on the [K, ·] tile; the output goes to whichever of g0/g1 the last hidden layer did
        // not write
        int gw = DzP;
        const float* g = hiddenLayers(mb.dec, s.z.p, K, gw, s.g0.p, s.g1.p);
        float* o = g == s.g0.p ? s.g1.p : s.g0.p;
        dense(mb.out, g, K, gw, o, DP, false);
        likelihoods(md, mb, s.x.p + (size_t)q * DP, o, s);
        double lseMax = -INFINITY, rateSum = 0;
        bool nan = false;
        for (int k = 0; k < K; k++) {
          const float* zk = s.z.p + (size_t)k * DzP;
          double zz = 0;
          for (int j = 0; j < Dz; j++) zz += (double)zk[j] * (double)zk[j];
          const double lpz = -0.5 * zz - 0.5 * Dz * LOG_2PI;
          const double logq = mb.logqConst[k] - sumLogSigma[q];
          const double lw = (double)s.lpx.p[k] + lpz - logq;
          s.logw[k] = lw;
          nan |= std::isnan(lw);
          if (lw > lseMax) lseMax = lw;
          rateSum += logq - lpz;
        }
        double iwae;
        if (nan) iwae = NAN;
        else if (!std::isfinite(lseMax)) iwae = NAN;  // every sample −inf, or one +inf: NaN, as the graph's max-shift gives
        else {
          // Σ exp(logw − max) a vector at a time (float32 terms in [0, 1], as the graph)
          float* d = s.prod.p;
          for (int k = 0; k < K; k++) d[k] = (float)(s.logw[k] - lseMax);
          for (int k = K; k < pad8(K); k++) d[k] = -INFINITY;
          v8 se = vsplat(0.f);
          for (int k = 0; k < K; k += VW) se += vexpNeg(vload(d + k));
          iwae = lseMax + std::log((double)hsum(se)) - logK;
        }
        lp[(size_t)q * M + m] = iwae;
        rt[(size_t)q * M + m] = rateSum / K;
      }
    }
    for (int q = 0; q < nb; q++) {
      const int64_t r = r0 + q;
      double mean = 0, rmean = 0;
      for (int m = 0; m < M; m++) {
        const float l = (float)lp[(size_t)q * M + m], t = (float)rt[(size_t)q * M + m];
        outLogp[r * M + m] = l;
        outRate[r * M + m] = t;
        mean += l;
        rmean += t;
      }
      mean /= M;
      rmean /= M;
      double var = 0;
      for (int m = 0; m < M; m++) {
        const double dv = (double)(float)lp[(size_t)q * M + m] - mean;
        var += dv * dv;
      }
      var /= M;
      outMean[r] = (float)mean;
      outVar[r] = (float)var;
      outWaic[r] = (float)(mean - var);
      outRateMean[r] = (float)rmean;
    }
  }
}

// ---- model construction ------------------------------------------------------------------------------

// Reads floats sequentially from the packed parameter array.
struct Reader {
  const float* p;
  size_t n, pos = 0;
  const float* take(size_t count) {
    if (pos + count > n) throw std::runtime_error("parameter array too short");
    const float* r = p + pos;
    pos += count;
    return r;
  }
};

Dense readDense(Reader& rd, int in, int out, int inP, int outP, const float* colScale = nullptr) {
  Dense L;
  L.in = in;
  L.out = out;
  L.inP = inP;
  L.outP = outP;
  L.w.reset((size_t)inP * outP);
  L.b.reset(outP);
  const float* w = rd.take((size_t)in * out);
  const float* b = rd.take(out);
  for (int i = 0; i < in; i++)
    for (int o = 0; o < out; o++)
      L.w.p[(size_t)i * outP + o] = colScale ? (float)((double)w[(size_t)i * out + o] * colScale[o]) : w[(size_t)i * out + o];
  for (int o = 0; o < out; o++) L.b.p[o] = colScale ? (float)((double)b[o] * colScale[o]) : b[o];
  return L;
}

// config (Int32Array): [D, Dz, K, M, likelihood, tkind, nEnc, enc..., nDec, dec...(, nBin, bin... when mixed)]
// floats (Float32Array), per member: enc.h{i}.w, .b …, enc.mu.w, .b, enc.sigma.w, .b, dec.h{i}.w, .b …,
//   dec.out.w, .b, [dec.scale_raw], eps [K·Dz]
// transform (Float64Array): scale: [factor]; minmax: [min…, max…, period…]; standard: [mean…, std…, period…]
std::unique_ptr<Model> buildModel(const int32_t* cfg, size_t ncfg, const float* fl, size_t nfl, const double* tr,
                                  size_t ntr) {
  auto md = std::make_unique<Model>();
  if (ncfg < 8) throw std::runtime_error("config too short");
  size_t c = 0;
  md->D = cfg[c++];
  md->Dz = cfg[c++];
  md->K = cfg[c++];
  md->M = cfg[c++];
  md->like = cfg[c++];
  md->tkind = cfg[c++];
  if (md->D < 1 || md->Dz < 1 || md->Dz > 256 || md->K < 1 || md->M < 1 || md->like < 0 || md->like > 3 ||
      md->tkind < 0 || md->tkind > 4)
    throw std::runtime_error("bad model dimensions");
  const int nEnc = cfg[c++];
  if (nEnc < 0 || c + nEnc + 1 > ncfg) throw std::runtime_error("bad config");
  std::vector<int> enc(cfg + c, cfg + c + nEnc);
  c += nEnc;
  const int nDec = cfg[c++];
  if (nDec < 0 || c + nDec > ncfg) throw std::runtime_error("bad config");
  std::vector<int> dec(cfg + c, cfg + c + nDec);
  c += nDec;
  if (md->like == MIXED) {
    // [..., nBin, bin...]: ascending column indices in 0..D-1
    if (c + 1 > ncfg) throw std::runtime_error("bad config");
    const int nBin = cfg[c++];
    if (nBin < 1 || c + nBin > ncfg) throw std::runtime_error("bad config");
    for (int i = 0; i < nBin; i++) {
      const int j = cfg[c + i];
      if (j < 0 || j >= md->D || (i > 0 && j <= cfg[c + i - 1])) throw std::runtime_error("bad binary column");
      md->binary.push_back(j);
    }
    c += nBin;
  }
  for (int v : enc)
    if (v < 1) throw std::runtime_error("bad layer width");
  for (int v : dec)
    if (v < 1) throw std::runtime_error("bad layer width");
  const int D = md->D, Dz = md->Dz, K = md->K;
  md->DP = pad8(D);
  md->DzP = pad8(Dz);
  md->maxWidthP = std::max(md->DP, md->DzP);
  md->binMask.reset(md->DP);
  for (int d : md->binary) md->binMask.p[d] = 1.f;
  for (int v : enc) md->maxWidthP = std::max(md->maxWidthP, pad8(v));
  for (int v : dec) md->maxWidthP = std::max(md->maxWidthP, pad8(v));

  // transform
  md->period.assign(D, 0.f);
  if (md->tkind == T_SCALE) {
    if (ntr < 1) throw std::runtime_error("transform too short");
    md->factor = (float)tr[0];
  } else {
    if (ntr < (size_t)3 * D) throw std::runtime_error("transform too short");
    md->ta.resize(D);
    md->tb.resize(D);
    md->nonzero.assign(D, 1.f);
    for (int d = 0; d < D; d++) {
      if (md->tkind == T_STANDARD || md->tkind == T_STANDARD_IND) {
        md->ta[d] = (float)tr[d];
        md->tb[d] = (float)tr[D + d];
        // T_STANDARD_IND: a column with std ≤ 1e-6 (in float64, as stored) is an indicator
        if (md->tkind == T_STANDARD_IND && tr[D + d] <= 1e-6) md->nonzero[d] = 0.f;
      } else {
        const double range = tr[D + d] - tr[d];
        md->ta[d] = (float)tr[d];
        md->tb[d] = (float)(range == 0 ? 1.0 : range);
        md->nonzero[d] = range == 0 ? 0.f : 1.f;
      }
      md->period[d] = (float)tr[2 * D + d];
      if (md->period[d] != 0.f) md->anyWrap = true;
    }
  }

  Reader rd{fl, nfl};
  for (int m = 0; m < md->M; m++) {
    Member mb;
    int in = D, inP = md->DP;
    for (int v : enc) {
      mb.enc.push_back(readDense(rd, in, v, inP, pad8(v)));
      in = v;
      inP = pad8(v);
    }
    mb.mu = readDense(rd, in, Dz, inP, md->DzP);
    mb.sigma = readDense(rd, in, Dz, inP, md->DzP);
    in = Dz;
    inP = md->DzP;
    for (int v : dec) {
      mb.dec.push_back(readDense(rd, in, v, inP, pad8(v)));
      in = v;
      inP = pad8(v);
    }
    // the output layer is read after scale_raw is known (gaussian divides its columns by s_d)
    const float* outW = rd.take((size_t)in * D);
    rd.take(D);  // the output bias, read below with outW (contiguous)
    mb.invScale.reset(md->DP);
    std::vector<float> colScale(D, 1.f);
    if (md->like != BERNOULLI) {
      const float* sraw = rd.take(D);
      double c0 = 0;
      for (int d = 0; d < D; d++) {
        if (md->binMask.p[d] == 1.f) {  // mixed: a bernoulli column keeps its logits and x
          mb.invScale.p[d] = 1.f;
          continue;
        }
        const double sd = (double)(float)(softplus((double)sraw[d]) + SCALE_MIN);
        mb.invScale.p[d] = (float)(1.0 / sd);
        colScale[d] = (float)(1.0 / sd);
        c0 += -std::log(sd);
      }
      const double nCont = (double)(D - (int)md->binary.size());
      mb.lpxConst = md->like == STUDENT ? c0 + D * STUDENT_LOG_NORM : c0 - 0.5 * nCont * LOG_2PI;
    }
    {
      Reader ro{outW, (size_t)in * D + D};
      // outW and outB are contiguous in the packed array
      const bool scaled = md->like == GAUSSIAN || md->like == MIXED;
      mb.out = readDense(ro, in, D, inP, md->DP, scaled ? colScale.data() : nullptr);
    }
    const float* eps = rd.take((size_t)K * Dz);
    mb.eps.reset((size_t)K * md->DzP);
    mb.logqConst.assign(K, -0.5 * Dz * LOG_2PI);
    for (int k = 0; k < K; k++)
      for (int j = 0; j < Dz; j++) {
        const float e = eps[(size_t)k * Dz + j];
        mb.eps.p[(size_t)k * md->DzP + j] = e;
        mb.logqConst[k] += -0.5 * (double)e * (double)e;
      }
    md->members.push_back(std::move(mb));
  }
  if (rd.pos != rd.n) throw std::runtime_error("parameter array has " + std::to_string(rd.n - rd.pos) + " values too many");
  return md;
}

// A process-wide pool of worker threads, started on first use and grown to the largest thread count
// asked for. Starting threads per batch cost ~0.4 ms a call (measured: 2 threads gave nothing at 256
// records); a wake-up through a condition variable costs a few µs. Several batches may share the pool
// (tasks queue up); each batch waits for its own tasks only.
class Pool {
 public:
  void ensure(int n) {
    std::lock_guard<std::mutex> l(mu_);
    while ((int)workers_.size() < n) workers_.emplace_back([this] { loop(); });
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(std::move(f));
    }
    cv_.notify_one();
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_ and nothing left
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      f();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

// Counts a batch's outstanding tasks down; wait() returns when all are done.
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  int left;
  std::string error;
  explicit Latch(int n) : left(n) {}
  void done(const char* err) {
    std::lock_guard<std::mutex> l(mu);
    if (err && error.empty()) error = err;
    if (--left == 0) cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [this] { return left == 0; });
  }
};

void scoreAll(const Model& md, const float* x, int64_t n, int threads, float* logp, float* rate, float* mean,
              float* var, float* waic, float* rateMean) {
  // at least 32 records per thread, otherwise the thread start costs more than it saves
  int t = std::max(1, std::min<int>(threads, (int)((n + 31) / 32)));
  if (t == 1) {
    scoreRange(md, x, 0, n, logp, rate, mean, var, waic, rateMean);
    return;
  }
  const int64_t per = (n + t - 1) / t;
  int parts = 0;
  while (parts + 1 < t && (int64_t)(parts + 1) * per < n) parts++;  // ranges 1..parts go to the pool
  pool().ensure(parts);
  Latch latch(parts);
  for (int i = 1; i <= parts; i++) {
    const int64_t b = i * per, e = std::min<int64_t>(n, b + per);
    pool().post([&md, x, b, e, logp, rate, mean, var, waic, rateMean, &latch] {
      try {
        scoreRange(md, x, b, e, logp, rate, mean, var, waic, rateMean);
        latch.done(nullptr);
      } catch (const std::exception& ex) {
        latch.done(ex.what());
      }
    });
  }
  std::string own;
  try {
    scoreRange(md, x, 0, std::min<int64_t>(n, per), logp, rate, mean, var, waic, rateMean);
  } catch (const std::exception& ex) {
    own = ex.what();
  }
  latch.wait();  // always: the tasks reference this frame
  if (!own.empty()) throw std::runtime_error(own);
  if (!latch.error.empty()) throw std::runtime_error(latch.error);
}

// ---- N-API glue ---------------------------------------------------------------------------------------

#define NAPI_TRY(env, call)                                   \
  do {                                                        \
    if ((call) != napi_ok) {                                  \
      napi_throw_error((env), nullptr, "N-API call failed: " #call); \
      return nullptr;                                         \
    }                                                         \
  } while (0)

struct TypedView {
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type = napi_float32_array;
};

bool typedArg(napi_env env, napi_value v, napi_typedarray_type want, TypedView& out, const char* what) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a typed array").c_str());
    return false;
  }
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &out.type, &out.length, &out.data, &ab, &off);
  if (out.type != want) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " has the wrong element type").c_str());
    return false;
  }
  return true;
}

void finalizeModel(napi_env, void* data, void*) { delete static_cast<Model*>(data); }

// create(config: Int32Array, floats: Float32Array, transform: Float64Array) → external
napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_TRY(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 3) {
    napi_throw_type_error(env, nullptr, "create(config, floats, transform)");
    return nullptr;
  }
  TypedView cfg, fl, tr;
  if (!typedArg(env, argv[0], napi_int32_array, cfg, "config")) return nullptr;
  if (!typedArg(env, argv[1], napi_float32_array, fl, "floats")) return nullptr;
  if (!typedArg(env, argv[2], napi_float64_array, tr, "transform")) return nullptr;
  std::unique_ptr<Model> md;
  try {
    md = buildModel(static_cast<int32_t*>(cfg.data), cfg.length, static_cast<float*>(fl.data), fl.length,
                    static_cast<double*>(tr.data), tr.length);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  napi_value ext;
  Model* raw = md.release();
  if (napi_create_external(env, raw, finalizeModel, nullptr, &ext) != napi_ok) {
    delete raw;
    napi_throw_error(env, nullptr, "cannot create the model handle");
    return nullptr;
  }
  return ext;
}

struct Job {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::vector<napi_ref> refs;  // the model and every typed array, alive until the job completes
  const Model* md = nullptr;
  const float* x = nullptr;
  int64_t n = 0;
  int threads = 1;
  float* outs[6] = {};
  std::string error;
};

void ExecuteJob(napi_env, void* data) {
  Job* j = static_cast<Job*>(data);
  try {
    scoreAll(*j->md, j->x, j->n, j->threads, j->outs[0], j->outs[1], j->outs[2], j->outs[3], j->outs[4],
             j->outs[5]);
  } catch (const std::exception& e) {
    j->error = e.what();
  }
}

void CompleteJob(napi_env env, napi_status status, void* data) {
  Job* j = static_cast<Job*>(data);
  napi_value undef;
  napi_get_undefined(env, &undef);
  if (status != napi_ok || !j->error.empty()) {
    napi_value msg, err;
    napi_create_string_utf8(env, j->error.empty() ? "scoring was cancelled" : j->error.c_str(), NAPI_AUTO_LENGTH,
                            &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
  } else {
    napi_resolve_deferred(env, j->deferred, undef);
  }
  for (napi_ref r : j->refs) napi_delete_reference(env, r);
  napi_delete_async_work(env, j->work);
  delete j;
}

// Reads (model, x, n, threads, logp, rate, mean, var, waic, rateMean) into a Job; null after a throw.
Job* parseScoreArgs(napi_env env, napi_callback_info info, bool keepRefs) {
  size_t argc = 10;
  napi_value argv[10];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 10) {
    napi_throw_type_error(env, nullptr, "score(model, x, n, threads, logp, rate, mean, var, waic, rateMean)");
    return nullptr;
  }
  void* ext = nullptr;
  if (napi_get_value_external(env, argv[0], &ext) != napi_ok || !ext) {
    napi_throw_type_error(env, nullptr, "model must be a handle from create()");
    return nullptr;
  }
  auto job = std::make_unique<Job>();
  job->md = static_cast<Model*>(ext);
  TypedView x;
  if (!typedArg(env, argv[1], napi_float32_array, x, "x")) return nullptr;
  int64_t n = 0;
  int32_t threads = 1;
  if (napi_get_value_int64(env, argv[2], &n) != napi_ok || napi_get_value_int32(env, argv[3], &threads) != napi_ok) {
    napi_throw_type_error(env, nullptr, "n and threads must be numbers");
    return nullptr;
  }
  const Model& md = *job->md;
  if (n < 0 || (size_t)n * md.D > x.length) {
    napi_throw_range_error(env, nullptr, "x holds fewer than n records");
    return nullptr;
  }
  const size_t want[6] = {(size_t)n * md.M, (size_t)n * md.M, (size_t)n, (size_t)n, (size_t)n, (size_t)n};
  for (int i = 0; i < 6; i++) {
    TypedView o;
    if (!typedArg(env, argv[4 + i], napi_float32_array, o, "output")) return nullptr;
    if (o.length < want[i]) {
      napi_throw_range_error(env, nullptr, "an output array is too short");
      return nullptr;
    }
    job->outs[i] = static_cast<float*>(o.data);
  }
  job->x = static_cast<const float*>(x.data);
  job->n = n;
  job->threads = std::max(1, std::min(threads, 256));
  if (keepRefs) {
    for (int i = 0; i < 10; i++) {
      if (i == 2 || i == 3) continue;
      napi_ref r;
      if (napi_create_reference(env, argv[i], 1, &r) != napi_ok) {
        for (napi_ref q : job->refs) napi_delete_reference(env, q);
        napi_throw_error(env, nullptr, "cannot reference an argument");
        return nullptr;
      }
      job->refs.push_back(r);
    }
  }
  return job.release();
}

// scoreSync(...) → undefined, on the calling thread
napi_value ScoreSync(napi_env env, napi_callback_info info) {
  std::unique_ptr<Job> job(parseScoreArgs(env, info, false));
  if (!job) return nullptr;
  ExecuteJob(env, job.get());
  if (!job->error.empty()) {
    napi_throw_error(env, nullptr, job->error.c_str());
    return nullptr;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

// score(...) → Promise<void>, on a libuv worker thread
napi_value ScoreAsync(napi_env env, napi_callback_info info) {
  Job* job = parseScoreArgs(env, info, true);
  if (!job) return nullptr;
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "gensemble.score", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, ExecuteJob, CompleteJob, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    for (napi_ref r : job->refs) napi_delete_reference(env, r);
    delete job;
    napi_throw_error(env, nullptr, "cannot queue the scoring job");
    return nullptr;
  }
  return promise;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", nullptr, Create, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scoreSync", nullptr, ScoreSync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"score", nullptr, ScoreAsync, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value abi;
  napi_create_int32(env, 3, &abi);  // 2: transform kinds 3 and 4 (constant indicators); 3: mixed likelihood
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

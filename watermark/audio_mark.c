/* The audio mark's chime: see watermark/audio_mark.h. */
#include "watermark/audio_mark.h"

#include <math.h>

void wm_chime_init(wm_chime *c, uint64_t seed, int rate, int interval_s)
{
    /* Three independent slices of the seed, so that knowing one choice
     * (the pitch, heard) says nothing of another. */
    uint64_t a = seed % WM_CHIME_F1_STEPS;
    uint64_t b = (seed >> 16) % WM_CHIME_F2_STEPS;
    uint64_t ms = (seed >> 32) % WM_CHIME_FIRST_SPAN_MS;
    c->rate = rate;
    c->f1 = WM_CHIME_F1_MIN + (int)a * WM_CHIME_FREQ_STEP;
    c->f2 = WM_CHIME_F2_MIN + (int)b * WM_CHIME_FREQ_STEP;
    c->first = (long long)(WM_CHIME_FIRST_MIN_MS + ms) * rate / 1000;
    c->interval = (long long)interval_s * rate;
    c->tone = (long long)WM_CHIME_TONE_MS * rate / 1000;
    c->ramp = (long long)WM_CHIME_RAMP_MS * rate / 1000;
    if (c->ramp < 1)
        c->ramp = 1;
    /* The whole seed, mixed: nothing of it is heard as a pitch or a time. */
    c->noise = seed ^ 0x9e3779b97f4a7c15ull;
}

/* A uniform value in [-1, 1) for sample pos under key: splitmix64's
 * finaliser, so each sample's noise is computed alone, in any order. */
static float noise_at(uint64_t key, long long pos)
{
    uint64_t z = key + (uint64_t)pos * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / (double)(1ull << 52) - 1.0);
}

float wm_chime_sample(const wm_chime *c, long long pos, float *gain)
{
    *gain = 1.0f;
    if (pos < c->first)
        return 0.0f;
    long long k = (pos - c->first) % c->interval;
    if (k >= 2 * c->tone)
        return 0.0f;
    long long t = k < c->tone ? k : k - c->tone;
    int f = k < c->tone ? c->f1 : c->f2;
    /* Raised-cosine edges on each tone, so neither start nor end clicks. */
    double env = 1.0;
    if (t < c->ramp)
        env = 0.5 - 0.5 * cos(M_PI * (double)t / (double)c->ramp);
    else if (c->tone - t <= c->ramp)
        env = 0.5 - 0.5 * cos(M_PI * (double)(c->tone - t) / (double)c->ramp);
    /* The program is ducked across the whole chime, gap-free between its
     * two tones, and eased back over the ramp at either end of it. */
    double duck = 1.0;
    if (k < c->ramp)
        duck = 1.0 - (1.0 - WM_CHIME_DUCK) * (0.5 - 0.5 * cos(M_PI * (double)k / (double)c->ramp));
    else if (2 * c->tone - k <= c->ramp)
        duck = 1.0 - (1.0 - WM_CHIME_DUCK) *
                         (0.5 - 0.5 * cos(M_PI * (double)(2 * c->tone - k) / (double)c->ramp));
    else
        duck = WM_CHIME_DUCK;
    *gain = (float)duck;
    /* The noise follows the ducking in and out. */
    double under = (1.0 - duck) / (1.0 - WM_CHIME_DUCK);
    /* The phase runs from the tone's start, the same in every chime. */
    return (float)(WM_CHIME_LEVEL * env * sin(2.0 * M_PI * f * (double)t / c->rate) +
                   WM_CHIME_NOISE * under * noise_at(c->noise, pos));
}

void wm_chime_mix(const wm_chime *c, float *const *planes, int nch, int n, long long pos)
{
    for (int i = 0; i < n; i++) {
        float gain;
        float v = wm_chime_sample(c, pos + i, &gain);
        if (gain == 1.0f && v == 0.0f)
            continue;
        for (int ch = 0; ch < nch; ch++) {
            float s = planes[ch][i] * gain + v;
            planes[ch][i] = s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
        }
    }
}

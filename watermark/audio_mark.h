/* The audio mark: a two-tone chime at intervals, placed by the seed.
 *
 * Pure arithmetic on float samples, no decoder: the stamper mixes it into
 * every preview (watermark/audio.c) and the tests compute from the same
 * seed where and at what pitch to listen for it. */
#ifndef WM_AUDIO_MARK_H
#define WM_AUDIO_MARK_H

#include <stdint.h>

/* One chime is two tones, WM_CHIME_TONE_MS each, the first at f1 then the
 * second at f2, with WM_CHIME_RAMP_MS raised-cosine edges (no click).
 * While it sounds the program is lowered to WM_CHIME_DUCK of its level and
 * the tone mixed in at WM_CHIME_LEVEL of full scale (about -10 dBFS): loud
 * enough to be heard over a mastered song, and cutting it out would take
 * the program with it. */
#define WM_CHIME_TONE_MS 200
#define WM_CHIME_RAMP_MS 10
#define WM_CHIME_LEVEL 0.32f
#define WM_CHIME_DUCK 0.45f

/* Under the chime, noise keyed by the seed at this level (about -28
 * dBFS): quiet beside the tones, but someone who notches the two pitches
 * out and raises the ducked program again raises it 2.2 times with the
 * program, a hiss every interval he cannot subtract without the seed. */
#define WM_CHIME_NOISE 0.04f

/* The keyed choices: f1 one of 13 pitches from 800 to 1400 Hz, f2 one of
 * 17 from 1600 to 2400 Hz (50 Hz apart: below 4 kHz, so a phone-quality
 * copy still carries them), and the first chime's start from 0.5 s to
 * 3 s, in milliseconds. */
#define WM_CHIME_F1_MIN 800
#define WM_CHIME_F1_STEPS 13
#define WM_CHIME_F2_MIN 1600
#define WM_CHIME_F2_STEPS 17
#define WM_CHIME_FREQ_STEP 50
#define WM_CHIME_FIRST_MIN_MS 500
#define WM_CHIME_FIRST_SPAN_MS 2500

typedef struct wm_chime {
    int rate;           /* samples per second of the signal it marks */
    int f1, f2;         /* Hz */
    long long first;    /* sample index where the first chime starts */
    long long interval; /* samples from one chime's start to the next */
    long long tone;     /* samples of one tone */
    long long ramp;     /* samples of each fade in and out */
    uint64_t noise;     /* key of the noise under the chime */
} wm_chime;

/* Fills c for a signal of rate samples per second, one chime every
 * interval_s seconds, pitches and first offset from seed. rate > 0,
 * interval_s >= 1. This function can't fail. */
void wm_chime_init(wm_chime *c /* out */, uint64_t seed, int rate, int interval_s);

/* Mixes the chime into n samples of nch planar channels, planes[ch][0]
 * being the sample at absolute index pos of the signal, clipped to
 * [-1, 1]. This function can't fail. */
void wm_chime_mix(const wm_chime *c, float *const *planes, int nch, int n, long long pos);

/* The chime's own value at absolute sample index pos (0 between chimes),
 * and the gain the program gets there (1 between chimes). This function
 * can't fail. */
float wm_chime_sample(const wm_chime *c, long long pos, float *gain /* out */);

#endif

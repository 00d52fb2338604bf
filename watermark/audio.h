/* Inside the engine: audio previews (libavformat, libavcodec,
 * libswresample), and the waveform image that goes with them.
 *
 * Only the sandboxed child calls these: they decode uploaded content. */
#ifndef WM_AUDIO_H
#define WM_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "watermark/sandbox.h"
#include "watermark/wm.h"

/* The preview's format: MP3 (LAME), 44.1 kHz, stereo at 128 kbit/s or
 * mono at 64 kbit/s, whichever the original has (more channels are mixed
 * down to two). */
#define WM_AUDIO_RATE 44100
#define WM_AUDIO_BITRATE_STEREO 128000
#define WM_AUDIO_BITRATE_MONO 64000

/* The waveform image written beside the preview, at out WM_POSTER_SUFFIX
 * (watermark/sandbox.h). */
#define WM_WAVE_WIDTH 1200
#define WM_WAVE_HEIGHT 200

/* Writes an MP3 preview of the audio file in to out: the first
 * o->max_seconds of its best audio stream, resampled, marked with the
 * seeded chime every o->audio_mark_interval seconds (watermark/
 * audio_mark.h), no tag or picture of the original; and its waveform, a
 * JPEG, to out + WM_POSTER_SUFFIX. A preview cut at the limit stops there,
 * after a 50 ms fade. FG_ECORRUPT for what cannot be read (no audio
 * stream, undecodable, shorter than its header says), FG_ELIMIT over
 * o->audio_max_rate, FG_EIO if it cannot write; on failure neither file
 * is left behind. */
FG_MUST_CHECK fg_result wm_stamp_audio(const char *in, const char *out, const wm_options *o,
                                       uint64_t seed, fg_reason *r);

/* True when the file at in is a container libavformat reads with at least
 * one audio stream and no video stream (a cover picture does not count):
 * an M4A or an audio-only WebM that libmagic calls video. False for
 * anything else, unreadable files included. This function can't fail. */
bool wm_audio_only(const char *in);

/* ---- the waveform (watermark/audio_wave.c, libvips) ---- */

/* Peaks of a signal, one byte (0-255 of full scale) per block of
 * samples, grown as samples come. */
typedef struct wm_wave {
    unsigned char *peak;
    size_t n, cap;
    int block;   /* samples per peak */
    int filled;  /* samples in the current block */
    float cur;   /* the current block's peak so far */
} wm_wave;

/* Starts an empty waveform of blocks of block samples. This function
 * can't fail. */
void wm_wave_init(wm_wave *w /* out */, int block);

/* Adds n samples of nch planar channels. FG_EIO when out of memory. */
FG_MUST_CHECK fg_result wm_wave_add(wm_wave *w, const float *const *planes, int nch, int n,
                                    fg_reason *r);

/* Draws the waveform into a WM_WAVE_WIDTH x WM_WAVE_HEIGHT JPEG written to
 * path atomically. FG_EIO if it cannot. */
FG_MUST_CHECK fg_result wm_wave_save(const wm_wave *w, const char *path, fg_reason *r);

/* Frees what w holds; w may then be initialised again. This function
 * can't fail. */
void wm_wave_release(wm_wave *w);

#endif

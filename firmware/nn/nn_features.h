/*
 * nn_features.h - windowed IMU statistics, the edgeloop feature set.
 *
 * Purpose: turn a window of raw IMU samples into the feature vector that
 * models with input_kind `imu-features` take (protocol/SPEC.md 5.3), so a
 * board can compute it on device. The host twin is edgeloop.models.features;
 * both follow the same definitions and agree to 1e-4 relative error.
 *
 * Contract:
 *   - samples are float, row-major [window][channels] (sample-major, as the
 *     `imu-window` tensor), in the units the model was trained with
 *     (accelerometer g, gyroscope dps).
 *   - out receives channels * NN_FEATURES_PER_CHANNEL floats, channel-major:
 *     for channel c, out[c*9 + k] is statistic k of nn_feature_t.
 *   - statistics: min, max, mean, rms = sqrt(mean(x^2)), share of samples > 0,
 *     population variance, Petrosian fractal dimension
 *         pfd = log10(N) / (log10(N) + log10(N / (N + 0.4 * Nd)))
 *     with Nd the number of sign changes of the first difference
 *     (d[i] * d[i+1] < 0), skewness m3 / m2^1.5 and Pearson kurtosis m4 / m2^2
 *     (both 0 when m2 <= 1e-12).
 *   - Accumulation is in double; two passes over the window, no allocation,
 *     no state. Functions return false (and write nothing) for NULL pointers,
 *     window < 2 or channels == 0.
 *
 * Example (6-axis IMU, 256-sample windows, hop 128):
 *
 *     static float feat[6 * NN_FEATURES_PER_CHANNEL];
 *     uint32_t n = nn_features_window_count(n_samples, 256, 128);
 *     for (uint32_t w = 0; w < n; ++w) {
 *         nn_features_window(&samples[w * 128 * 6], 256, 6, feat);
 *         nn_features_quantize(feat, mean, inv_std, 54, in_scale, in_zp, model_input);
 *         ...
 *     }
 */
#ifndef NN_FEATURES_H
#define NN_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#define NN_FEATURES_PER_CHANNEL 9u

/* Index of each statistic inside a channel's nine features. */
typedef enum {
    NN_FEAT_MIN = 0,
    NN_FEAT_MAX = 1,
    NN_FEAT_MEAN = 2,
    NN_FEAT_RMS = 3,
    NN_FEAT_POS_SHARE = 4,
    NN_FEAT_VARIANCE = 5,
    NN_FEAT_PFD = 6,
    NN_FEAT_SKEWNESS = 7,
    NN_FEAT_KURTOSIS = 8
} nn_feature_t;

/* Compute the channels*9 features of one window of `window` samples. */
bool nn_features_window(const float *samples, uint32_t window, uint32_t channels, float *out);

/* Number of whole windows (starting at 0, hop, 2*hop, ...) in n_samples samples; 0 if window < 2 or hop == 0. */
uint32_t nn_features_window_count(uint32_t n_samples, uint32_t window, uint32_t hop);

/*
 * Features of every whole window of a recording: window w starts at sample
 * w*hop and its features go to out[w * channels * 9 ...]. out_windows must be
 * nn_features_window_count(n_samples, window, hop); returns false otherwise.
 */
bool nn_features_sliding(const float *samples, uint32_t n_samples, uint32_t channels, uint32_t window,
                         uint32_t hop, float *out, uint32_t out_windows);

/*
 * Standardise and quantize n features for an int8 model input:
 * q = clamp(round_half_away_from_zero(((f - mean) * inv_std) / scale) + zero_point, -128, 127)
 * (C's roundf, as the host's quantization and nn_quantize_f32_s8 round; NaN gives -128).
 * mean and inv_std come from the model's meta.json feature_norm (inv_std = 1/std).
 */
bool nn_features_quantize(const float *features, const float *mean, const float *inv_std, uint32_t n,
                          float scale, int32_t zero_point, int8_t *out);

#endif /* NN_FEATURES_H */

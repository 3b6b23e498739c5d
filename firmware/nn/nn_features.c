/* nn_features.c - windowed IMU statistics; the contract is in nn_features.h. */
#include "nn_features.h"

#include <math.h>
#include <stddef.h>

#define NN_FEAT_VARIANCE_FLOOR 1e-12

bool nn_features_window(const float *samples, uint32_t window, uint32_t channels, float *out)
{
    if (samples == NULL || out == NULL || window < 2u || channels == 0u) {
        return false;
    }
    const double n = (double)window;
    const double log_n = log10(n);
    for (uint32_t c = 0; c < channels; ++c) {
        double lo = samples[c], hi = samples[c], sum = 0.0, sum_sq = 0.0;
        uint32_t positive = 0, sign_changes = 0;
        double prev_d = 0.0;
        for (uint32_t i = 0; i < window; ++i) {
            const double x = samples[(size_t)i * channels + c];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
            sum += x;
            sum_sq += x * x;
            positive += x > 0.0 ? 1u : 0u;
            if (i > 0) {
                const double d = x - (double)samples[(size_t)(i - 1) * channels + c];
                if (i > 1 && d * prev_d < 0.0) {
                    ++sign_changes;
                }
                prev_d = d;
            }
        }
        const double mean = sum / n;
        double m2 = 0.0, m3 = 0.0, m4 = 0.0;
        for (uint32_t i = 0; i < window; ++i) {
            const double dev = (double)samples[(size_t)i * channels + c] - mean;
            const double dev2 = dev * dev;
            m2 += dev2;
            m3 += dev2 * dev;
            m4 += dev2 * dev2;
        }
        m2 /= n;
        m3 /= n;
        m4 /= n;
        const bool flat = m2 <= NN_FEAT_VARIANCE_FLOOR;
        float *f = &out[(size_t)c * NN_FEATURES_PER_CHANNEL];
        f[NN_FEAT_MIN] = (float)lo;
        f[NN_FEAT_MAX] = (float)hi;
        f[NN_FEAT_MEAN] = (float)mean;
        f[NN_FEAT_RMS] = (float)sqrt(sum_sq / n);
        f[NN_FEAT_POS_SHARE] = (float)((double)positive / n);
        f[NN_FEAT_VARIANCE] = (float)m2;
        f[NN_FEAT_PFD] = (float)(log_n / (log_n + log10(n / (n + 0.4 * (double)sign_changes))));
        f[NN_FEAT_SKEWNESS] = flat ? 0.0f : (float)(m3 / (m2 * sqrt(m2)));
        f[NN_FEAT_KURTOSIS] = flat ? 0.0f : (float)(m4 / (m2 * m2));
    }
    return true;
}

uint32_t nn_features_window_count(uint32_t n_samples, uint32_t window, uint32_t hop)
{
    if (window < 2u || hop == 0u || n_samples < window) {
        return 0u;
    }
    return (n_samples - window) / hop + 1u;
}

bool nn_features_sliding(const float *samples, uint32_t n_samples, uint32_t channels, uint32_t window,
                         uint32_t hop, float *out, uint32_t out_windows)
{
    if (samples == NULL || out == NULL || channels == 0u ||
        out_windows != nn_features_window_count(n_samples, window, hop)) {
        return false;
    }
    const size_t stride = (size_t)channels * NN_FEATURES_PER_CHANNEL;
    for (uint32_t w = 0; w < out_windows; ++w) {
        if (!nn_features_window(&samples[(size_t)w * hop * channels], window, channels, &out[w * stride])) {
            return false;
        }
    }
    return true;
}

bool nn_features_quantize(const float *features, const float *mean, const float *inv_std, uint32_t n,
                          float scale, int32_t zero_point, int8_t *out)
{
    if (features == NULL || mean == NULL || inv_std == NULL || out == NULL || !(scale > 0.0f)) {
        return false;
    }
    for (uint32_t i = 0; i < n; ++i) {
        const float z = (features[i] - mean[i]) * inv_std[i];
        /* halves away from zero, as the host and nn_quantize_f32_s8 round (roundf); clamped as a float
         * first so that a huge value or NaN never reaches the integer conversion */
        float r = roundf(z / scale) + (float)zero_point;
        r = r > -128.0f ? r : -128.0f; /* NaN compares false: -128 */
        r = r < 127.0f ? r : 127.0f;
        out[i] = (int8_t)(int32_t)r;
    }
    return true;
}

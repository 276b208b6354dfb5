/* Kubernetes resource.Quantity: parsing, canonical text, Value/MilliValue.
 * Follows k8s.io/apimachinery/pkg/api/resource (quantity.go, suffix.go):
 * amounts below 1n round up (away from zero) to 1n, binary amounts are
 * capped at 2^63-1, and binary amounts that are not whole numbers of at
 * least 1024 print as decimal SI. */
#include <kraal/value.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define QTY_REGEX_ERR                               \
    "quantities must match the regular expression " \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define QTY_SUFFIX_ERR "unable to parse quantity's suffix"
#define QTY_NANO       (-9)

typedef unsigned __int128 u128;

static const struct {
    const char *s;
    int base;
    int exp;
} suffixes[] = {
    {"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},  {"M", 10, 6},
    {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
    {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* suffix.go interpret(): a table suffix, or e/E followed by an exponent. */
static bool interpret(const char *s, size_t n, int *base, int64_t *exp, kr_qformat_t *fmt)
{
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strlen(suffixes[i].s) == n && memcmp(suffixes[i].s, s, n) == 0) {
            *base = suffixes[i].base;
            *exp = suffixes[i].exp;
            *fmt = suffixes[i].base == 2 ? KR_QFMT_BINARY_SI : KR_QFMT_DECIMAL_SI;
            return true;
        }
    }
    if (n < 2 || (s[0] != 'e' && s[0] != 'E'))
        return false;
    size_t i = 1;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    if (i == n)
        return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
        /* Kubernetes refuses exponents outside the int32 scale. */
        if (v > INT32_MAX)
            return false;
    }
    *base = 10;
    *exp = neg ? -v : v;
    *fmt = KR_QFMT_DECIMAL_EXP;
    return true;
}

static int out_of_range(kr_error_t *err, const char *s)
{
    return kr_error_set(err, KR_E_INVALID,
                        "quantity \"%.64s\" is out of range (at most 18 significant digits)", s);
}

int kr_quantity_parse(const char *s, kr_quantity_t *q, kr_error_t *err)
{
    if (s == NULL || *s == '\0')
        return kr_error_set(err, KR_E_INVALID, QTY_REGEX_ERR);
    size_t n = strlen(s), pos = 0;
    bool neg = false;
    if (s[pos] == '+' || s[pos] == '-')
        neg = s[pos++] == '-';
    size_t num_start = pos;
    while (pos < n && is_digit(s[pos]))
        pos++;
    size_t num_end = pos, den_start = pos, den_end = pos;
    if (pos < n && s[pos] == '.') {
        den_start = ++pos;
        while (pos < n && is_digit(s[pos]))
            pos++;
        den_end = pos;
    }
    if (pos == num_start) /* the regex needs one [0-9.] */
        return kr_error_set(err, KR_E_INVALID, QTY_REGEX_ERR);
    size_t suf = pos;
    while (pos < n && strchr("eEinumkKMGTP", s[pos]) != NULL)
        pos++;
    if (pos < n && (s[pos] == '+' || s[pos] == '-'))
        pos++;
    while (pos < n && is_digit(s[pos]))
        pos++;
    if (pos != n)
        return kr_error_set(err, KR_E_INVALID, QTY_REGEX_ERR);

    int base;
    int64_t exp;
    kr_qformat_t fmt;
    if (!interpret(s + suf, n - suf, &base, &exp, &fmt))
        return kr_error_set(err, KR_E_INVALID, QTY_SUFFIX_ERR);

    /* Significant digits of num+denom, and the power of ten of the last one. */
    char digits[64];
    size_t nd = 0;
    int64_t scale = -(int64_t)(den_end - den_start) + (base == 10 ? exp : 0);
    bool dropped_nonzero = false;
    for (size_t i = num_start; i < den_end; i++) {
        if (i == num_end)
            continue; /* the '.' */
        if (nd == 0 && s[i] == '0')
            continue;
        if (nd < 40) {
            digits[nd++] = s[i];
        } else {
            /* Beyond 40 digits: only sub-nano fraction digits are fine,
             * they round up below. */
            scale++;
            if (s[i] != '0')
                dropped_nonzero = true;
        }
    }
    /* Everything after the 40th digit shifted the scale: undo for digits
     * that were fraction digits (they are already accounted for in scale
     * via den length), so recompute the scale of the last kept digit. */
    while (nd > 0 && digits[nd - 1] == '0' && !dropped_nonzero) {
        nd--;
        scale++;
    }
    if (nd == 0) {
        q->unscaled = 0;
        q->scale = 0;
        q->format = fmt;
        return 0;
    }

    u128 v = 0;
    if (base == 10) {
        /* Round up (away from zero) to 1n, as Kubernetes does. */
        if (scale < QTY_NANO) {
            int64_t drop = QTY_NANO - scale;
            if (drop >= (int64_t)nd) {
                nd = 0;
                dropped_nonzero = true;
            } else {
                for (size_t i = nd - (size_t)drop; i < nd; i++)
                    if (digits[i] != '0')
                        dropped_nonzero = true;
                nd -= (size_t)drop;
            }
            scale = QTY_NANO;
        } else if (dropped_nonzero) {
            return out_of_range(err, s);
        }
        if (nd > 19)
            return out_of_range(err, s);
        for (size_t i = 0; i < nd; i++)
            v = v * 10 + (unsigned)(digits[i] - '0');
        if (dropped_nonzero)
            v++;
    } else {
        if (nd > 19 || dropped_nonzero) {
            /* 10^19 or more before the suffix: past the 2^63-1 cap anyway. */
            if ((int64_t)nd + scale <= 19)
                return out_of_range(err, s);
            nd = 1;
            digits[0] = '1';
            scale = 19;
        }
        for (size_t i = 0; i < nd; i++)
            v = v * 10 + (unsigned)(digits[i] - '0');
        v <<= exp;
        if (scale < QTY_NANO) {
            u128 div = 1;
            for (int64_t k = scale; k < QTY_NANO; k++)
                div *= 10;
            v = v / div + (v % div != 0);
            scale = QTY_NANO;
        }
    }
    while (v != 0 && v % 10 == 0) {
        v /= 10;
        scale++;
    }
    if (base == 2) {
        /* Binary amounts are capped at 2^63-1; below 1 they print as decimal. */
        bool over = v > (u128)INT64_MAX;
        if (!over && scale > 0) {
            u128 t = v;
            for (int64_t k = 0; k < scale && !over; k++) {
                t *= 10;
                over = t > (u128)INT64_MAX;
            }
        }
        if (over && scale >= 0) {
            v = (u128)INT64_MAX;
            scale = 0;
        } else if (over) {
            return out_of_range(err, s);
        }
        if (scale < 0) {
            u128 one = 1;
            for (int64_t k = scale; k < 0; k++)
                one *= 10;
            if (v < one)
                fmt = KR_QFMT_DECIMAL_SI;
        }
    }
    if (v > (u128)INT64_MAX || scale > INT32_MAX || scale < INT32_MIN)
        return out_of_range(err, s);
    q->unscaled = neg ? -(int64_t)v : (int64_t)v;
    q->scale = (int32_t)scale;
    q->format = fmt;
    return 0;
}

/* ---- formatting --------------------------------------------------------- */

static int cmp_mag_int(const kr_quantity_t *q, uint64_t m)
{
    /* |q| against m (m < 2^63), for the BinarySI < 1024 rule. */
    u128 a = (u128)(q->unscaled < 0 ? -(u128)(__int128)q->unscaled : (u128)q->unscaled);
    u128 b = m;
    if (q->scale >= 0) {
        for (int32_t k = 0; k < q->scale; k++) {
            a *= 10;
            if (a > b)
                return 1;
        }
    } else {
        for (int32_t k = q->scale; k < 0; k++) {
            b *= 10;
            if (b > ((u128)1 << 100))
                return -1;
        }
    }
    return a < b ? -1 : a > b;
}

int kr_quantity_format(const kr_quantity_t *q, char *buf, size_t size)
{
    if (q->unscaled == 0)
        return snprintf(buf, size, "0");
    kr_qformat_t fmt = q->format;
    if (fmt == KR_QFMT_BINARY_SI) {
        if (cmp_mag_int(q, 1024) < 0 || q->scale < 0 || q->scale > 18)
            fmt = KR_QFMT_DECIMAL_SI; /* small or fractional: no rounding */
    }
    if (fmt == KR_QFMT_BINARY_SI) {
        bool neg = q->unscaled < 0;
        u128 v = neg ? -(u128)(__int128)q->unscaled : (u128)q->unscaled;
        for (int32_t k = 0; k < q->scale; k++)
            v *= 10;
        int e = 0;
        while (e < 6 && v % 1024 == 0) {
            v /= 1024;
            e++;
        }
        static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        char digits[48];
        int nd = 0;
        do {
            digits[nd++] = (char)('0' + (int)(v % 10));
            v /= 10;
        } while (v != 0);
        char tmp[64];
        int n = 0;
        if (neg)
            tmp[n++] = '-';
        while (nd > 0)
            tmp[n++] = digits[--nd];
        tmp[n] = '\0';
        return snprintf(buf, size, "%s%s", tmp, bin[e]);
    }
    /* Decimal: the exponent goes down to a multiple of three. */
    int64_t exp = q->scale;
    const char *pad = "";
    switch (exp % 3) {
    case 1:
    case -2:
        pad = "0";
        exp -= 1;
        break;
    case 2:
    case -1:
        pad = "00";
        exp -= 2;
        break;
    }
    if (fmt == KR_QFMT_DECIMAL_SI && exp >= -9 && exp <= 18) {
        static const char *const si[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
        return snprintf(buf, size, "%" PRId64 "%s%s", q->unscaled, pad, si[(exp + 9) / 3]);
    }
    /* Decimal exponent form, also for decimal SI amounts past the E suffix
     * (Kubernetes has no suffix for them and would drop the exponent). */
    if (exp == 0)
        return snprintf(buf, size, "%" PRId64 "%s", q->unscaled, pad);
    return snprintf(buf, size, "%" PRId64 "%se%" PRId64, q->unscaled, pad, exp);
}

/* ---- values ------------------------------------------------------------- */

/* q * 10^shift rounded away from zero to an integer, saturating. */
static int64_t scaled_value(const kr_quantity_t *q, int shift)
{
    if (q->unscaled == 0)
        return 0;
    bool neg = q->unscaled < 0;
    u128 v = neg ? -(u128)(__int128)q->unscaled : (u128)q->unscaled;
    int64_t scale = (int64_t)q->scale + shift;
    if (scale >= 0) {
        for (int64_t k = 0; k < scale; k++) {
            v *= 10;
            if (v > (u128)INT64_MAX)
                return neg ? INT64_MIN : INT64_MAX;
        }
    } else {
        bool frac = false;
        for (int64_t k = scale; k < 0 && v != 0; k++) {
            if (v % 10 != 0)
                frac = true;
            v /= 10;
        }
        if (scale < -40 && !frac)
            frac = true; /* every digit was below the point */
        if (frac)
            v++;
    }
    if (v > (u128)INT64_MAX)
        return neg ? INT64_MIN : INT64_MAX;
    return neg ? -(int64_t)v : (int64_t)v;
}

int64_t kr_quantity_value(const kr_quantity_t *q)
{
    return scaled_value(q, 0);
}

int64_t kr_quantity_milli(const kr_quantity_t *q)
{
    return scaled_value(q, 3);
}

int kr_quantity_cmp(const kr_quantity_t *a, const kr_quantity_t *b)
{
    int sa = (a->unscaled > 0) - (a->unscaled < 0);
    int sb = (b->unscaled > 0) - (b->unscaled < 0);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    u128 ma = sa < 0 ? -(u128)(__int128)a->unscaled : (u128)a->unscaled;
    u128 mb = sb < 0 ? -(u128)(__int128)b->unscaled : (u128)b->unscaled;
    int da = 0, db = 0;
    for (u128 t = ma; t != 0; t /= 10)
        da++;
    for (u128 t = mb; t != 0; t /= 10)
        db++;
    /* Orders of magnitude first, then the digits aligned. */
    int64_t oa = (int64_t)a->scale + da, ob = (int64_t)b->scale + db;
    int mag;
    if (oa != ob) {
        mag = oa < ob ? -1 : 1;
    } else {
        int64_t d = (int64_t)a->scale - b->scale;
        for (; d > 0; d--)
            ma *= 10;
        for (; d < 0; d++)
            mb *= 10;
        mag = ma < mb ? -1 : ma > mb;
    }
    return sa < 0 ? -mag : mag;
}

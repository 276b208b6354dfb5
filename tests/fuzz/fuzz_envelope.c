/* Fuzzes envelope validation and the broker's message handling (a
 * detached broker: no sockets, replies are counted and dropped).  The
 * first input byte picks the frame layout so that routed replies and
 * multi-frame junk are reached too. */
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_broker_t *broker;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kr_envelope_t env;
    kr_error_t err;
    kr_envelope_parse(data, size, &env, &err);
    if (size == 0)
        return 0;
    if (broker == NULL)
        broker = kr_broker_new_detached(NULL);
    /* layout: 1 frame, or 3 frames split at bytes 1 and 2 of the payload
     * (client id, header, message), from one of two peers */
    uint8_t mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    const char *rid = (mode & 1) ? "peer-a" : "peer-b";
    if ((mode & 6) == 0 || n < 12) {
        const void *f[1] = {p};
        size_t l[1] = {n};
        kr_broker_feed(broker, rid, 6, f, l, 1);
    } else {
        const void *f[3] = {(mode & 1) ? "peer-b" : "peer-a", p, p + 9};
        size_t l[3] = {6, 9, n - 9};
        kr_broker_feed(broker, rid, 6, f, l, 3);
    }
    return 0;
}

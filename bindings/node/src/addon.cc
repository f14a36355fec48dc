// addon.cc - the Node-API layer of the Splinter binding.
//
// A thin, synchronous wrapper over include/splinter.h; lib/index.cjs builds
// the public API on it.  Lifetime rules:
//   - A Handle owns the spl_store and counts two things.  `busy`: users of
//     the mapping (the JS store object until close() or collection, each
//     zero-copy view not yet detached, each open subscription, each request
//     running in the thread pool); spl_close runs when it reaches zero.
//     `refs`: holders of the Handle's memory (the same plus the fast-path
//     functions); the Handle is freed when it reaches zero.  Store.close()
//     detaches every view (their ArrayBuffers become zero-length, so no JS
//     code can read unmapped memory) and closes every subscription, so the
//     store is unmapped at once unless a pool request is still running.
//   - The hot calls (get, getInto, set, has, unset) are plain N-API
//     functions made per store with the Handle as their data: no unwrap.
//   - Subscriptions are driven by libuv: a uv_poll_t on the subscription's
//     eventfd (spl_sub_fd) calls back into JS when a subscribed group
//     pulses.  The event loop never blocks and nothing polls on a timer.
#include <napi.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_set>
#include <unistd.h>
#include <vector>

extern "C" {
#include "splinter.h"
}

namespace {

struct Handle;

struct ViewRec {
    Handle *h;          // null once detached or the store closed
    napi_ref ab;        // weak reference to the external ArrayBuffer
};

struct SubNative;

struct Handle {
    spl_store *s = nullptr;
    int refs = 1;        // memory holders (see above)
    int busy = 1;        // mapping users (see above)
    bool closed = false; // close() called: no more calls
    std::atomic<bool> closing{false}; // the same, for pool threads (waitKey ends)
    char *pool = nullptr; // the JS side's current value pool (get)
    size_t pool_len = 0;
    uint32_t key_max = 0, val_max = 0, vec_dim = 0;
    uint32_t retry_us = 100000; // contention: retry EAGAIN this long (0: never)
    std::vector<char> scratch;  // get's first try (min(val_max, 64 KiB))
    std::vector<char> strval;   // string values as UTF-8
    std::unordered_set<ViewRec *> views;
    std::unordered_set<SubNative *> subs;
};

// Give back a use of the mapping: the last one unmaps.
void handle_idle(Handle *h)
{
    if (--h->busy == 0 && h->s) {
        spl_close(h->s);
        h->s = nullptr;
    }
}

// Give back a hold on the Handle's memory: the last one frees it.
void handle_unref(Handle *h)
{
    if (--h->refs == 0) {
        if (h->s)
            spl_close(h->s);
        delete h;
    }
}

void handle_hold(Handle *h)
{
    h->refs++;
    h->busy++;
}

void handle_release(Handle *h)
{
    handle_idle(h);
    handle_unref(h);
}

struct AddonData {
    Napi::FunctionReference error_class;
    Napi::FunctionReference store_ctor;
    Napi::FunctionReference sub_ctor;
    Napi::FunctionReference prep_ctor;
    Napi::FunctionReference batch_ctor;
};

// ---------------------------------------------------------------- errors

// Throws the JS SplinterError (code = "SPL_ENOENT", errno = -2, op, key).
void throw_spl(Napi::Env env, int rc, const char *op, const char *key = nullptr)
{
    Napi::HandleScope scope(env);
    std::string msg = op;
    if (key) {
        msg += " '";
        msg += key;
        msg += "'";
    }
    msg += ": ";
    msg += spl_strerror(rc);
    msg += " (";
    msg += spl_err_name(rc);
    msg += ")";
    auto *d = env.GetInstanceData<AddonData>();
    Napi::Value err;
    if (d && !d->error_class.IsEmpty()) {
        err = d->error_class.New({Napi::String::New(env, msg), Napi::String::New(env, spl_err_name(rc)),
                                  Napi::Number::New(env, rc)});
        if (env.IsExceptionPending())
            return;
    } else {
        Napi::Error e = Napi::Error::New(env, msg);
        e.Set("code", Napi::String::New(env, spl_err_name(rc)));
        e.Set("errno", Napi::Number::New(env, rc));
        err = e.Value();
    }
    if (key)
        err.As<Napi::Object>().Set("key", Napi::String::New(env, key));
    err.As<Napi::Object>().Set("op", Napi::String::New(env, op));
    napi_throw(env, err);
}

void throw_type(Napi::Env env, const char *msg)
{
    Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
}

// ---------------------------------------------------------------- retry

uint64_t mono_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Retry an operation that returned SPL_EAGAIN for up to retry_us, waiting
// between tries as the *_wait calls do (spl_retry_pause: a short spin, a
// yield, then asleep on key's busy slot until its writer commits, a dead
// writer recovered).  key: the NUL-terminated key op uses (nullptr for a
// call of no one key: a back-off without a sleep on a slot); write: 1 if op
// writes the key, 0 if it only reads.  The first try pays nothing for the
// wait.  It runs where the call runs: on the JS thread (synchronous calls),
// or in the pool (the vector search worker).
template <typename F> int retry(spl_store *s, const char *key, int write, uint32_t retry_us, F op)
{
    int rc = op();
    if (rc != SPL_EAGAIN || retry_us == 0)
        return rc;
    spl_retry r;
    spl_retry_init(&r, retry_us);
    while (rc == SPL_EAGAIN && spl_retry_pause(s, key, write, &r) == 0)
        rc = op();
    return rc;
}

// Tandem member i's name into name (SPL_KEY_MAX_LIMIT + 1 bytes): the key
// a busy member read waits on; nullptr if it cannot be made (the call
// itself then fails, never SPL_EAGAIN).
const char *member(spl_store *s, const char *base, uint32_t i, char *name)
{
    return spl_tandem_key(s, base, i, name, SPL_KEY_MAX_LIMIT + 1) < 0 ? nullptr : name;
}

// ---------------------------------------------------------------- args

// A key from a string or a Buffer/Uint8Array, NUL-terminated.  A key
// longer than key_max is passed on whole enough for the library to refuse
// it (SPL_EKEYLEN), never truncated into another key.
struct Key {
    char stack[260];
    char16_t ustack[256];
    std::vector<char> heap;
    std::vector<char16_t> uheap;
    char *p = stack;
    size_t len = 0;

    // Strings are read as UTF-16 (a plain copy in V8) and encoded here:
    // for short keys that is several times cheaper than V8's UTF-8 writer.
    // Lone surrogates become U+FFFD, as Buffer.from(string) makes them.
    bool from(napi_env env, napi_value v, uint32_t key_max)
    {
        size_t ucap = (size_t)key_max + 2; // key_max + 1 units: surely too long
        char16_t *u = ustack;
        if (ucap > 256) {
            uheap.resize(ucap);
            u = uheap.data();
        }
        size_t ulen = 0;
        napi_status st = napi_get_value_string_utf16(env, v, u, ucap, &ulen);
        if (st == napi_ok) {
            size_t cap = ulen * 3 + 1;
            if (cap > sizeof stack) {
                heap.resize(cap);
                p = heap.data();
            }
            char *o = p;
            for (size_t i = 0; i < ulen; i++) {
                uint32_t c = u[i];
                if (c < 0x80) {
                    if (c == 0)
                        return nul(env);
                    *o++ = (char)c;
                } else if (c < 0x800) {
                    *o++ = (char)(0xc0 | (c >> 6));
                    *o++ = (char)(0x80 | (c & 0x3f));
                } else {
                    if (c >= 0xd800 && c <= 0xdfff) {
                        if (c <= 0xdbff && i + 1 < ulen && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) {
                            c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00);
                            i++;
                            *o++ = (char)(0xf0 | (c >> 18));
                            *o++ = (char)(0x80 | ((c >> 12) & 0x3f));
                            *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
                            *o++ = (char)(0x80 | (c & 0x3f));
                            continue;
                        }
                        c = 0xfffd;
                    }
                    *o++ = (char)(0xe0 | (c >> 12));
                    *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
                    *o++ = (char)(0x80 | (c & 0x3f));
                }
            }
            *o = 0;
            len = (size_t)(o - p);
            return true;
        }
        bool isbuf = false;
        napi_is_typedarray(env, v, &isbuf);
        napi_typedarray_type tt = napi_int8_array;
        size_t n = 0;
        void *data = nullptr;
        if (isbuf)
            napi_get_typedarray_info(env, v, &tt, &n, &data, nullptr, nullptr);
        if (!isbuf || tt != napi_uint8_array) {
            throw_type(env, "key must be a string or a Uint8Array");
            return false;
        }
        size_t cap = (size_t)key_max + 2; // a longer key keeps > key_max bytes
        if (cap > sizeof stack) {
            heap.resize(cap);
            p = heap.data();
        }
        len = n < cap - 1 ? n : cap - 1;
        memcpy(p, data, len);
        p[len] = 0;
        if (memchr(p, 0, len))
            return nul(env);
        return true;
    }

    static bool nul(napi_env env)
    {
        throw_spl(Napi::Env(env), SPL_EINVAL, "key holds a NUL byte");
        return false;
    }
};

// Bytes of a value: Buffer / TypedArray / DataView / ArrayBuffer / string.
bool value_bytes(Napi::Env env, Handle *h, napi_value v, const void **data, size_t *len)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_string) {
        size_t n = 0;
        napi_get_value_string_utf8(env, v, nullptr, 0, &n);
        if (h->strval.size() < n + 1)
            h->strval.resize(n + 1);
        napi_get_value_string_utf8(env, v, h->strval.data(), n + 1, &n);
        *data = h->strval.data();
        *len = n;
        return true;
    }
    bool is = false;
    napi_is_typedarray(env, v, &is);
    if (is) {
        napi_typedarray_type tt;
        size_t n;
        void *p;
        napi_get_typedarray_info(env, v, &tt, &n, &p, nullptr, nullptr);
        size_t esz = 1;
        switch (tt) {
        case napi_int16_array: case napi_uint16_array: esz = 2; break;
        case napi_int32_array: case napi_uint32_array: case napi_float32_array: esz = 4; break;
        case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: esz = 8; break;
        default: esz = 1;
        }
        *data = p;
        *len = n * esz;
        return true;
    }
    napi_is_dataview(env, v, &is);
    if (is) {
        void *p;
        size_t n;
        napi_get_dataview_info(env, v, &n, &p, nullptr, nullptr);
        *data = p;
        *len = n;
        return true;
    }
    napi_is_arraybuffer(env, v, &is);
    if (is) {
        void *p;
        size_t n;
        napi_get_arraybuffer_info(env, v, &p, &n);
        *data = p;
        *len = n;
        return true;
    }
    throw_type(env, "value must be a string, Buffer, TypedArray, DataView or ArrayBuffer");
    return false;
}

uint64_t to_u64(Napi::Value v)
{
    if (v.IsBigInt()) {
        bool lossless;
        return v.As<Napi::BigInt>().Uint64Value(&lossless);
    }
    if (v.IsNumber())
        return (uint64_t)v.As<Napi::Number>().Int64Value();
    return 0;
}

int64_t to_i64(Napi::Value v)
{
    if (v.IsBigInt()) {
        bool lossless;
        return v.As<Napi::BigInt>().Int64Value(&lossless);
    }
    if (v.IsNumber())
        return v.As<Napi::Number>().Int64Value();
    return 0;
}

Napi::Value big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

Napi::Object meta_obj(Napi::Env env, const spl_meta &m)
{
    Napi::Object o = Napi::Object::New(env);
    o.Set("epoch", big(env, m.epoch));
    o.Set("labels", big(env, m.labels));
    o.Set("ctimeNs", big(env, m.ctime_ns));
    o.Set("mtimeNs", big(env, m.mtime_ns));
    o.Set("atimeNs", big(env, m.atime_ns));
    o.Set("size", Napi::Number::New(env, m.val_len));
    o.Set("slot", Napi::Number::New(env, m.slot));
    o.Set("type", Napi::String::New(env, spl_type_name((spl_type)m.type)));
    o.Set("flags", Napi::Number::New(env, m.user_flags));
    o.Set("watch", big(env, m.watch));
    return o;
}

// ---------------------------------------------------------------- fast path
// Plain N-API functions, one set per store, with the Handle as their data.

Handle *fast_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
    size_t argc = want;
    void *data = nullptr;
    napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    for (size_t i = argc; i < want; i++)
        napi_get_undefined(env, &argv[i]);
    Handle *h = static_cast<Handle *>(data);
    if (h->closed || !h->s) {
        throw_spl(Napi::Env(env), SPL_EINVAL, "store is closed");
        return nullptr;
    }
    return h;
}

napi_value num(napi_env env, double v)
{
    napi_value r;
    napi_create_double(env, v, &r);
    return r;
}

napi_value boolean(napi_env env, bool v)
{
    napi_value r;
    napi_get_boolean(env, v, &r);
    return r;
}

// get(key, off) -> n (the value is at pool[off..off+n)), -1 (absent), or
// -(2 + needed) when it does not fit in the pool past off.
napi_value fast_get(napi_env env, napi_callback_info info)
{
    napi_value argv[2];
    Handle *h = fast_args(env, info, 2, argv);
    if (!h)
        return nullptr;
    Key k;
    if (!k.from(env, argv[0], h->key_max))
        return nullptr;
    uint32_t off = 0;
    napi_get_value_uint32(env, argv[1], &off);
    if (off > h->pool_len)
        off = (uint32_t)h->pool_len;
    char *buf = h->pool + off;
    size_t cap = h->pool_len - off, n = 0;
    int rc = spl_get(h->s, k.p, buf, cap, &n);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_get_wait(h->s, k.p, buf, cap, &n, h->retry_us);
    if (rc == 0)
        return num(env, (double)n);
    if (rc == SPL_ENOENT)
        return num(env, -1);
    if (rc == SPL_ENOBUFS)
        return num(env, -2.0 - (double)n);
    throw_spl(Napi::Env(env), rc, "get", k.p);
    return nullptr;
}

// getInto(key, view) -> n | -1 (absent); SPL_ENOBUFS carries .needed
napi_value fast_get_into(napi_env env, napi_callback_info info)
{
    napi_value argv[2];
    Handle *h = fast_args(env, info, 2, argv);
    if (!h)
        return nullptr;
    Key k;
    if (!k.from(env, argv[0], h->key_max))
        return nullptr;
    void *buf;
    size_t cap;
    if (napi_get_buffer_info(env, argv[1], &buf, &cap) != napi_ok) {
        throw_type(Napi::Env(env), "getInto: the target must be a Buffer or TypedArray");
        return nullptr;
    }
    size_t n = 0;
    int rc = spl_get(h->s, k.p, buf, cap, &n);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_get_wait(h->s, k.p, buf, cap, &n, h->retry_us);
    if (rc == 0)
        return num(env, (double)n);
    if (rc == SPL_ENOENT)
        return num(env, -1);
    Napi::Env e(env);
    throw_spl(e, rc, "getInto", k.p);
    if (rc == SPL_ENOBUFS) {
        Napi::Error err = e.GetAndClearPendingException();
        err.Set("needed", Napi::Number::New(e, (double)n));
        err.ThrowAsJavaScriptException();
    }
    return nullptr;
}

napi_value fast_set(napi_env env, napi_callback_info info)
{
    napi_value argv[2];
    Handle *h = fast_args(env, info, 2, argv);
    if (!h)
        return nullptr;
    Key k;
    if (!k.from(env, argv[0], h->key_max))
        return nullptr;
    void *d;
    size_t n;
    if (napi_get_buffer_info(env, argv[1], &d, &n) != napi_ok) {
        const void *cd;
        if (!value_bytes(env, h, argv[1], &cd, &n))
            return nullptr;
        d = const_cast<void *>(cd);
    }
    int rc = spl_set(h->s, k.p, d, n);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_set_wait(h->s, k.p, d, n, h->retry_us);
    if (rc < 0)
        throw_spl(Napi::Env(env), rc, "set", k.p);
    return nullptr;
}

// has(key) -> boolean
napi_value fast_has(napi_env env, napi_callback_info info)
{
    napi_value argv[1];
    Handle *h = fast_args(env, info, 1, argv);
    if (!h)
        return nullptr;
    Key k;
    if (!k.from(env, argv[0], h->key_max))
        return nullptr;
    int rc = retry(h->s, k.p, 0, h->retry_us, [&] { return spl_exists(h->s, k.p); });
    if (rc < 0) {
        throw_spl(Napi::Env(env), rc, "has", k.p);
        return nullptr;
    }
    return boolean(env, rc == 1);
}

// unset(key) -> true (deleted) | false (absent)
napi_value fast_unset(napi_env env, napi_callback_info info)
{
    napi_value argv[1];
    Handle *h = fast_args(env, info, 1, argv);
    if (!h)
        return nullptr;
    Key k;
    if (!k.from(env, argv[0], h->key_max))
        return nullptr;
    int rc = spl_unset(h->s, k.p);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_unset_wait(h->s, k.p, h->retry_us);
    if (rc == 0 || rc == SPL_ENOENT)
        return boolean(env, rc == 0);
    throw_spl(Napi::Env(env), rc, "unset", k.p);
    return nullptr;
}

// setPool(arrayBuffer): where get() writes values (the JS side keeps the
// ArrayBuffer alive while it is the pool, and hands out views into it).
napi_value fast_set_pool(napi_env env, napi_callback_info info)
{
    napi_value argv[1];
    size_t argc = 1;
    void *data = nullptr;
    napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    Handle *h = static_cast<Handle *>(data);
    void *p;
    size_t n;
    if (napi_get_arraybuffer_info(env, argv[0], &p, &n) != napi_ok) {
        throw_type(Napi::Env(env), "setPool: an ArrayBuffer");
        return nullptr;
    }
    h->pool = static_cast<char *>(p);
    h->pool_len = n;
    return nullptr;
}

// The floors of a call through Node-API, for the benchmark: noop() reads
// its arguments and returns; noopKey(key, off) also converts the key, as
// get does, and stops before spl_get.
napi_value fast_noop(napi_env env, napi_callback_info info)
{
    napi_value argv[2];
    size_t argc = 2;
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    return nullptr;
}

napi_value fast_noop_key(napi_env env, napi_callback_info info)
{
    napi_value argv[2];
    Handle *h = fast_args(env, info, 2, argv);
    if (!h)
        return nullptr;
    Key k;
    if (!k.from(env, argv[0], h->key_max))
        return nullptr;
    uint32_t off = 0;
    napi_get_value_uint32(env, argv[1], &off);
    return num(env, (double)(k.len + off));
}

void fast_fin(napi_env, void *data, void *) { handle_unref(static_cast<Handle *>(data)); }

napi_value fast_object(napi_env env, Handle *h)
{
    static const struct {
        const char *name;
        napi_callback cb;
    } fns[] = {{"get", fast_get},   {"getInto", fast_get_into}, {"set", fast_set},
               {"has", fast_has},   {"unset", fast_unset},      {"setPool", fast_set_pool},
               {"noop", fast_noop}, {"noopKey", fast_noop_key}};
    napi_value o;
    napi_create_object(env, &o);
    for (const auto &f : fns) {
        napi_value fn;
        napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, h, &fn);
        h->refs++;
        napi_add_finalizer(env, fn, h, fast_fin, nullptr, nullptr);
        napi_set_named_property(env, o, f.name, fn);
    }
    return o;
}

// ---------------------------------------------------------------- Store

// ---------------------------------------------------------------- PreparedKey

// A key measured and hashed once for one store (spl_key_prep).  It owns the
// key's bytes (spl_key points at them) and holds the Handle's memory (not
// the mapping: after close() its calls throw "store is closed").
class Prep : public Napi::ObjectWrap<Prep> {
public:
    static Napi::Function Init(Napi::Env env)
    {
        return DefineClass(env, "NativePreparedKey",
                           {
                               InstanceMethod("get", &Prep::Get),
                               InstanceMethod("set", &Prep::Set),
                               InstanceMethod("unset", &Prep::Unset),
                               InstanceMethod("add", &Prep::Add),
                           });
    }
    explicit Prep(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Prep>(info) {}
    ~Prep() override
    {
        if (h)
            handle_unref(h);
    }

    Handle *h = nullptr;
    std::string key; // the bytes k.key points at (never changed)
    spl_key k{};

    spl_store *live(Napi::Env env)
    {
        if (!h || h->closed || !h->s) {
            throw_spl(env, SPL_EINVAL, "store is closed");
            return nullptr;
        }
        return h->s;
    }

    // spl_get_k into an exact-size Buffer (undefined if absent); rc out.
    static Napi::Value get_k(Napi::Env env, Handle *h, spl_store *s, const spl_key *k, int *rc_out)
    {
        size_t n = 0;
        char *buf = h->scratch.data();
        size_t cap = h->scratch.size();
        int rc = retry(s, k->key, 0, h->retry_us, [&] { return spl_get_k(s, k, buf, cap, &n); });
        while (rc == SPL_ENOBUFS) {
            Napi::Buffer<char> out = Napi::Buffer<char>::New(env, n);
            size_t need = 0;
            rc = retry(s, k->key, 0, h->retry_us, [&] { return spl_get_k(s, k, out.Data(), out.Length(), &need); });
            if (rc == 0) {
                *rc_out = 0;
                return need == out.Length() ? Napi::Value(out) : Napi::Value(Napi::Buffer<char>::Copy(env, out.Data(), need));
            }
            n = need;
        }
        *rc_out = rc == SPL_ENOENT ? 0 : rc;
        if (rc == 0)
            return Napi::Buffer<char>::Copy(env, buf, n);
        return env.Undefined();
    }

private:
    Napi::Value Get(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        spl_store *s = live(env);
        if (!s)
            return env.Undefined();
        int rc = 0;
        Napi::Value v = get_k(env, h, s, &k, &rc);
        if (rc < 0)
            throw_spl(env, rc, "get", key.c_str());
        return v;
    }

    Napi::Value Set(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        spl_store *s = live(env);
        if (!s)
            return env.Undefined();
        const void *d;
        size_t n;
        if (!value_bytes(env, h, info[0], &d, &n))
            return env.Undefined();
        int rc = retry(s, k.key, 1, h->retry_us, [&] { return spl_set_k(s, &k, d, n); });
        if (rc < 0)
            throw_spl(env, rc, "set", key.c_str());
        return env.Undefined();
    }

    Napi::Value Unset(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        spl_store *s = live(env);
        if (!s)
            return env.Undefined();
        int rc = retry(s, k.key, 1, h->retry_us, [&] { return spl_unset_k(s, &k); });
        if (rc == 0 || rc == SPL_ENOENT)
            return Napi::Boolean::New(env, rc == 0);
        throw_spl(env, rc, "unset", key.c_str());
        return env.Undefined();
    }

    Napi::Value Add(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        spl_store *s = live(env);
        if (!s)
            return env.Undefined();
        int64_t delta = to_i64(info[0]), out = 0;
        uint64_t u = 0;
        // waits as Store.add (retry_us 0: SPL_EAGAIN at once)
        int rc = spl_int_wait_k(s, &k, SPL_OP_ADD, (uint64_t)delta, &u, h->retry_us);
        out = (int64_t)u;
        if (rc < 0) {
            throw_spl(env, rc, "add", key.c_str());
            return env.Undefined();
        }
        return Napi::BigInt::New(env, out);
    }
};

// A list of keys prepared once (Store.prepareMany): one object a batch call
// unwraps, where an array of PreparedKeys costs Node-API several calls a key.
// It holds its keys' bytes (NUL-terminated, one block) and their spl_keys.
class Batch : public Napi::ObjectWrap<Batch> {
public:
    static Napi::Function Init(Napi::Env env) { return DefineClass(env, "NativeKeyBatch", {}); }
    explicit Batch(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Batch>(info) {}

    std::vector<char> bytes;
    std::vector<size_t> offs; // key i at bytes.data() + offs[i]
    std::vector<spl_key> keys;
};

class Store : public Napi::ObjectWrap<Store> {
public:
    static Napi::Function Init(Napi::Env env);
    explicit Store(const Napi::CallbackInfo &info);
    ~Store() override
    {
        if (!h)
            return;
        if (!dropped)
            handle_idle(h);
        handle_unref(h);
    }

    Handle *h = nullptr;
    bool dropped = false; // the store's own use was given back (close)

    // Returns the live store or throws (closed).
    spl_store *live(Napi::Env env)
    {
        if (!h || h->closed || !h->s) {
            throw_spl(env, SPL_EINVAL, "store is closed");
            return nullptr;
        }
        return h->s;
    }

private:
    Napi::Value Attach(const Napi::CallbackInfo &info);
    Napi::Value Close(const Napi::CallbackInfo &info);
    Napi::Value Closed(const Napi::CallbackInfo &info);
    Napi::Value SetRetry(const Napi::CallbackInfo &info);
    Napi::Value Info(const Napi::CallbackInfo &info);
    Napi::Value Flush(const Napi::CallbackInfo &info);
    Napi::Value Fd(const Napi::CallbackInfo &info);
    Napi::Value Get(const Napi::CallbackInfo &info);
    Napi::Value GetInto(const Napi::CallbackInfo &info);
    Napi::Value Set(const Napi::CallbackInfo &info);
    Napi::Value Unset(const Napi::CallbackInfo &info);
    Napi::Value Exists(const Napi::CallbackInfo &info);
    Napi::Value Append(const Napi::CallbackInfo &info);
    Napi::Value Cas(const Napi::CallbackInfo &info);
    Napi::Value Int(const Napi::CallbackInfo &info);
    Napi::Value Add(const Napi::CallbackInfo &info);
    Napi::Value Meta(const Napi::CallbackInfo &info);
    Napi::Value TypeSet(const Napi::CallbackInfo &info);
    Napi::Value FlagsSet(const Napi::CallbackInfo &info);
    Napi::Value LabelsSet(const Napi::CallbackInfo &info);
    Napi::Value LabelsClear(const Napi::CallbackInfo &info);
    Napi::Value Touch(const Napi::CallbackInfo &info);
    Napi::Value View(const Napi::CallbackInfo &info);
    Napi::Value ViewValid(const Napi::CallbackInfo &info);
    Napi::Value Foreach(const Napi::CallbackInfo &info);
    Napi::Value VecSet(const Napi::CallbackInfo &info);
    Napi::Value VecGet(const Napi::CallbackInfo &info);
    Napi::Value VecClear(const Napi::CallbackInfo &info);
    Napi::Value VecSearch(const Napi::CallbackInfo &info);
    Napi::Value VecSearchAsync(const Napi::CallbackInfo &info);
    Napi::Value Watch(const Napi::CallbackInfo &info);
    Napi::Value Unwatch(const Napi::CallbackInfo &info);
    Napi::Value Bind(const Napi::CallbackInfo &info);
    Napi::Value Unbind(const Napi::CallbackInfo &info);
    Napi::Value BindGet(const Napi::CallbackInfo &info);
    Napi::Value Bump(const Napi::CallbackInfo &info);
    Napi::Value Signal(const Napi::CallbackInfo &info);
    Napi::Value Pulses(const Napi::CallbackInfo &info);
    Napi::Value KeyWait(const Napi::CallbackInfo &info);
    Napi::Value BenchC(const Napi::CallbackInfo &info);
    Napi::Value BenchOrder(const Napi::CallbackInfo &info);
    Napi::Value GetManyInto(const Napi::CallbackInfo &info);
    Napi::Value Repair(const Napi::CallbackInfo &info);
    Napi::Value TandemKey(const Napi::CallbackInfo &info);
    Napi::Value TandemSet(const Napi::CallbackInfo &info);
    Napi::Value TandemGet(const Napi::CallbackInfo &info);
    Napi::Value TandemCount(const Napi::CallbackInfo &info);
    Napi::Value TandemUnset(const Napi::CallbackInfo &info);
    Napi::Value TandemVecSet(const Napi::CallbackInfo &info);
    Napi::Value TandemVecGet(const Napi::CallbackInfo &info);
    Napi::Value Prepare(const Napi::CallbackInfo &info);
    Napi::Value PrepareMany(const Napi::CallbackInfo &info);
    Napi::Value SetMany(const Napi::CallbackInfo &info);
};

// Geometry / options from a plain object (fields as in index.d.ts; lib/
// turns names into numbers and numaNodes into a bigint mask).  Defaults,
// and version = SPL_OPTIONS_VERSION, come from spl_options_init.
void read_options(const Napi::Object &o, spl_options *opt)
{
    spl_options_init(opt);
    auto u32 = [&](const char *name, uint32_t *dst) {
        Napi::Value v = o.Get(name);
        if (v.IsNumber())
            *dst = v.As<Napi::Number>().Uint32Value();
    };
    u32("backing", (uint32_t *)&opt->backing);
    u32("flags", &opt->flags);
    u32("mode", &opt->mode);
    u32("slots", &opt->geom.slots);
    u32("keyMax", &opt->geom.key_max);
    u32("valMax", &opt->geom.val_max);
    u32("vecDim", &opt->geom.vec_dim);
    u32("feedLen", &opt->feed_len);
    u32("vecFormat", &opt->vec_format);
    u32("tandemSep", &opt->tandem_sep);
    u32("numaMode", &opt->numa_mode);
    u32("hugePages", &opt->huge_pages);
    u32("vecCells", &opt->vec_cells);
    opt->numa_nodes = to_u64(o.Get("numaNodes"));
}

Store::Store(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Store>(info) {}

// attach(mode, name|fd, options): mode 0 create, 1 open, 2 open-or-create, 3 fd.
Napi::Value Store::Attach(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    int mode = info[0].As<Napi::Number>().Int32Value();
    spl_options opt;
    read_options(info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env), &opt);
    std::string name;
    const char *namep = nullptr;
    if (info[1].IsString()) {
        name = info[1].As<Napi::String>().Utf8Value();
        namep = name.c_str();
    }
    spl_store *s = nullptr;
    int rc;
    const char *op;
    switch (mode) {
    case 0: rc = spl_create(&s, namep, &opt); op = "create"; break;
    case 1: rc = spl_open(&s, namep, &opt); op = "open"; break;
    case 2: rc = spl_open_or_create(&s, namep, &opt); op = "openOrCreate"; break;
    default:
        rc = spl_open_fd(&s, info[1].As<Napi::Number>().Int32Value(), opt.flags & SPL_O_RDONLY);
        op = "openFd";
        namep = nullptr;
    }
    if (rc < 0) {
        throw_spl(env, rc, op, namep);
        return env.Undefined();
    }
    h = new Handle();
    h->s = s;
    spl_info in;
    spl_info_get_n(s, &in, sizeof in);
    h->key_max = in.geom.key_max;
    h->val_max = in.geom.val_max;
    h->vec_dim = in.geom.vec_dim;
    h->scratch.resize(h->val_max < 65536 ? h->val_max : 65536);
    return Napi::Value(env, fast_object(env, h));
}

void sub_close_native(SubNative *n);

Napi::Value Store::Close(const Napi::CallbackInfo &info)
{
    if (!h || h->closed || dropped)
        return info.Env().Undefined();
    h->closed = true;
    h->closing.store(true, std::memory_order_release);
    Napi::Env env = info.Env();
    // Views: detach (zero-length from now on) and drop their counts.
    for (ViewRec *r : h->views) {
        napi_value ab;
        if (napi_get_reference_value(env, r->ab, &ab) == napi_ok && ab)
            napi_detach_arraybuffer(env, ab);
        r->h = nullptr;
        handle_release(h);
    }
    h->views.clear();
    std::vector<SubNative *> subs(h->subs.begin(), h->subs.end());
    for (SubNative *n : subs)
        sub_close_native(n); // gives back each subscription's use
    dropped = true;
    handle_idle(h); // spl_close now, or when the last pool request returns
    return env.Undefined();
}

Napi::Value Store::Closed(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), !h || h->closed);
}

Napi::Value Store::SetRetry(const Napi::CallbackInfo &info)
{
    if (h) {
        double ms = info[0].As<Napi::Number>().DoubleValue();
        h->retry_us = ms <= 0 ? 0 : ms >= 4294967.0 ? 4294967295u : (uint32_t)(ms * 1000.0);
    }
    return info.Env().Undefined();
}

// The bit numbers set in a mask, ascending: [0, 2] for 0b101.
Napi::Array bit_list(Napi::Env env, uint64_t m)
{
    Napi::Array a = Napi::Array::New(env);
    for (uint32_t b = 0; b < 64; b++)
        if (m >> b & 1)
            a.Set(a.Length(), b);
    return a;
}

Napi::Value Store::Info(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    spl_info in;
    int rc = spl_info_get_n(s, &in, sizeof in);
    if (rc < 0) {
        throw_spl(env, rc, "info");
        return env.Undefined();
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("slots", in.geom.slots);
    o.Set("keyMax", in.geom.key_max);
    o.Set("valMax", in.geom.val_max);
    o.Set("vecDim", in.geom.vec_dim);
    static const char *backs[] = {"auto", "shm", "file", "memfd"};
    o.Set("backing", backs[in.backing & 3]);
    o.Set("probeMax", in.probe_max);
    o.Set("slotStride", in.slot_stride);
    o.Set("regionBytes", (double)in.region_bytes);
    o.Set("used", (double)in.used);
    o.Set("load", in.load);
    o.Set("recoveries", (double)in.recoveries);
    o.Set("changes", big(env, in.changes));
    o.Set("probeLongest", in.probe_longest);
    o.Set("probeMean", in.probe_mean);
    o.Set("embeddings", (in.features & SPL_FEAT_EMBEDDINGS) != 0);
    o.Set("readOnly", in.read_only != 0);
    o.Set("cellStride", in.cell_stride);
    o.Set("cellsHigh", in.cells_high);
    o.Set("capacity", (double)in.capacity);
    o.Set("free", (double)in.free);
    o.Set("indexWords", in.index_words);
    o.Set("undoRecs", in.undo_recs);
    o.Set("pageBytes", (double)in.page_bytes);
    o.Set("numaNodes", bit_list(env, in.numa_nodes));
    static const char *numa[] = {"default", "bind", "interleave", "preferred", "local"};
    bool named = in.numa_mode >= 0 && in.numa_mode < SPL__NUMA_MODE_COUNT;
    o.Set("numaMode", named ? Napi::String::New(env, numa[in.numa_mode]) : env.Null());
    o.Set("numaSampled", in.numa_sampled);
    o.Set("numaAbsent", in.numa_absent);
    Napi::Array pages = Napi::Array::New(env, SPL_NUMA_NODES_MAX);
    for (uint32_t n = 0; n < SPL_NUMA_NODES_MAX; n++)
        pages.Set(n, in.numa_pages[n]);
    o.Set("numaPages", pages);
    o.Set("storeId", big(env, in.store_id));
    o.Set("cells", in.cells);
    o.Set("cellsUsed", in.cells_used);
    o.Set("residentBytes", (double)in.resident_bytes);
    return o;
}

Napi::Value Store::Flush(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    int rc = spl_flush(s);
    if (rc < 0)
        throw_spl(env, rc, "flush");
    return env.Undefined();
}

Napi::Value Store::Fd(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    return Napi::Number::New(env, spl_fd(s));
}

#define ARGS_KEY(idx)                                                                              \
    Napi::Env env = info.Env();                                                                   \
    spl_store *s = live(env);                                                                     \
    if (!s)                                                                                       \
        return env.Undefined();                                                                   \
    Key k;                                                                                        \
    if (!k.from(env, info[idx], h->key_max))                                                      \
        return env.Undefined();

// get(key) -> Buffer | undefined
Napi::Value Store::Get(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    size_t n = 0;
    char *buf = h->scratch.data();
    size_t cap = h->scratch.size();
    int rc = spl_get(s, k.p, buf, cap, &n);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_get_wait(s, k.p, buf, cap, &n, h->retry_us);
    if (rc == 0)
        return Napi::Buffer<char>::Copy(env, buf, n);
    if (rc == SPL_ENOENT)
        return env.Undefined();
    if (rc == SPL_ENOBUFS) {
        // Larger than the scratch lane: read into an exact-size Buffer,
        // growing it if the value grew in between.
        for (;;) {
            Napi::Buffer<char> out = Napi::Buffer<char>::New(env, n);
            size_t need = 0;
            rc = retry(s, k.p, 0, h->retry_us, [&] { return spl_get(s, k.p, out.Data(), out.Length(), &need); });
            if (rc == 0) {
                if (need == out.Length())
                    return out;
                return Napi::Buffer<char>::Copy(env, out.Data(), need);
            }
            if (rc == SPL_ENOENT)
                return env.Undefined();
            if (rc != SPL_ENOBUFS)
                break;
            n = need;
        }
    }
    throw_spl(env, rc, "get", k.p);
    return env.Undefined();
}

// getInto(key, u8) -> length | undefined; SPL_ENOBUFS carries .needed
Napi::Value Store::GetInto(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    Napi::Uint8Array u = info[1].As<Napi::Uint8Array>();
    size_t n = 0;
    int rc = spl_get(s, k.p, u.Data(), u.ByteLength(), &n);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_get_wait(s, k.p, u.Data(), u.ByteLength(), &n, h->retry_us);
    if (rc == 0)
        return Napi::Number::New(env, (double)n);
    if (rc == SPL_ENOENT)
        return env.Undefined();
    throw_spl(env, rc, "getInto", k.p);
    if (rc == SPL_ENOBUFS) {
        Napi::Error e = env.GetAndClearPendingException();
        e.Set("needed", Napi::Number::New(env, (double)n));
        e.ThrowAsJavaScriptException();
    }
    return env.Undefined();
}

Napi::Value Store::Set(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    const void *d;
    size_t n;
    if (!value_bytes(env, h, info[1], &d, &n))
        return env.Undefined();
    int rc = spl_set(s, k.p, d, n);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_set_wait(s, k.p, d, n, h->retry_us);
    if (rc < 0)
        throw_spl(env, rc, "set", k.p);
    return env.Undefined();
}

// unset(key) -> true (deleted) | false (absent)
Napi::Value Store::Unset(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = spl_unset(s, k.p);
    if (rc == SPL_EAGAIN && h->retry_us)
        rc = spl_unset_wait(s, k.p, h->retry_us);
    if (rc == 0)
        return Napi::Boolean::New(env, true);
    if (rc == SPL_ENOENT)
        return Napi::Boolean::New(env, false);
    throw_spl(env, rc, "unset", k.p);
    return env.Undefined();
}

Napi::Value Store::Exists(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = retry(s, k.p, 0, h->retry_us, [&] { return spl_exists(s, k.p); });
    if (rc < 0) {
        throw_spl(env, rc, "has", k.p);
        return env.Undefined();
    }
    return Napi::Boolean::New(env, rc == 1);
}

Napi::Value Store::Append(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    const void *d;
    size_t n;
    if (!value_bytes(env, h, info[1], &d, &n))
        return env.Undefined();
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_append(s, k.p, d, n); });
    if (rc < 0)
        throw_spl(env, rc, "append", k.p);
    return env.Undefined();
}

// cas(key, expectedEpoch, value) -> true | false (ESTALE, EEXIST, ENOENT)
Napi::Value Store::Cas(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    uint64_t expected = to_u64(info[1]);
    const void *d;
    size_t n;
    if (!value_bytes(env, h, info[2], &d, &n))
        return env.Undefined();
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_cas(s, k.p, expected, d, n); });
    if (rc == 0)
        return Napi::Boolean::New(env, true);
    if (rc == SPL_ESTALE || rc == SPL_EEXIST || rc == SPL_ENOENT)
        return Napi::Boolean::New(env, false);
    throw_spl(env, rc, "cas", k.p);
    return env.Undefined();
}

// An integer op: spl_int_wait, which waits on a busy slot up to retry_us
// (asleep on the slot, recovering a dead writer), as get and set do;
// retries off (retryMs 0, timeout 0): SPL_EAGAIN at once, nothing changed.
static int int_op(Handle *h, spl_store *s, const char *key, int op, uint64_t operand, uint64_t *out)
{
    return spl_int_wait(s, key, (spl_int_op)op, operand, out, h->retry_us);
}

// int(key, op, operand) -> BigInt (unsigned)
Napi::Value Store::Int(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int op = info[1].As<Napi::Number>().Int32Value();
    uint64_t operand = to_u64(info[2]);
    uint64_t out = 0;
    int rc = int_op(h, s, k.p, op, operand, &out);
    if (rc < 0) {
        throw_spl(env, rc, "int", k.p);
        return env.Undefined();
    }
    return big(env, out);
}

// add(key, delta) -> BigInt (signed); add(key, 'inc' | 'dec')
Napi::Value Store::Add(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int64_t delta = info[1].IsString() ? (info[1].As<Napi::String>().Utf8Value() == "inc" ? 1 : -1)
                                       : to_i64(info[1]);
    uint64_t u = 0;
    int rc = int_op(h, s, k.p, SPL_OP_ADD, (uint64_t)delta, &u);
    int64_t out = (int64_t)u;
    if (rc < 0) {
        throw_spl(env, rc, "add", k.p);
        return env.Undefined();
    }
    return Napi::BigInt::New(env, out);
}

Napi::Value Store::Meta(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    spl_meta m;
    int rc = retry(s, k.p, 0, h->retry_us, [&] { return spl_meta_get(s, k.p, &m); });
    if (rc == SPL_ENOENT)
        return env.Undefined();
    if (rc < 0) {
        throw_spl(env, rc, "meta", k.p);
        return env.Undefined();
    }
    return meta_obj(env, m);
}

Napi::Value Store::TypeSet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int t;
    if (info[1].IsString()) {
        std::string name = info[1].As<Napi::String>().Utf8Value();
        t = spl_type_parse(name.c_str());
        if (t < 0) {
            throw_spl(env, t, "setType", k.p);
            return env.Undefined();
        }
    } else {
        t = info[1].As<Napi::Number>().Int32Value();
    }
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_type_set(s, k.p, (spl_type)t); });
    if (rc < 0)
        throw_spl(env, rc, "setType", k.p);
    return env.Undefined();
}

Napi::Value Store::FlagsSet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    uint32_t f = info[1].As<Napi::Number>().Uint32Value();
    if (f > 255) {
        throw_spl(env, SPL_EINVAL, "setFlags", k.p);
        return env.Undefined();
    }
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_flags_set(s, k.p, (uint8_t)f); });
    if (rc < 0)
        throw_spl(env, rc, "setFlags", k.p);
    return env.Undefined();
}

Napi::Value Store::LabelsSet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    uint64_t m = to_u64(info[1]);
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_labels_set(s, k.p, m); });
    if (rc < 0)
        throw_spl(env, rc, "setLabels", k.p);
    return env.Undefined();
}

Napi::Value Store::LabelsClear(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    uint64_t m = to_u64(info[1]);
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_labels_clear(s, k.p, m); });
    if (rc < 0)
        throw_spl(env, rc, "clearLabels", k.p);
    return env.Undefined();
}

Napi::Value Store::Touch(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_touch(s, k.p); });
    if (rc < 0)
        throw_spl(env, rc, "touch", k.p);
    return env.Undefined();
}

// ---- zero-copy views

void view_finalize(napi_env env, void *data, void *hint)
{
    ViewRec *r = static_cast<ViewRec *>(hint);
    if (r->h) {
        r->h->views.erase(r);
        handle_release(r->h);
    }
    napi_delete_reference(env, r->ab);
    delete r;
}

// view(key) -> [ArrayBuffer over the mapping, epoch BigInt, slot, type] | undefined
Napi::Value Store::View(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    spl_view v;
    int rc = retry(s, k.p, 0, h->retry_us, [&] { return spl_view_get(s, k.p, &v); });
    if (rc == SPL_ENOENT)
        return env.Undefined();
    if (rc < 0) {
        throw_spl(env, rc, "view", k.p);
        return env.Undefined();
    }
    ViewRec *r = new ViewRec{h, nullptr};
    napi_value ab;
    // The mapping outlives the ArrayBuffer: the view holds a count on the
    // handle until it is collected or the store is closed (then detached).
    static char empty[1];
    void *p = v.len ? const_cast<void *>(v.data) : empty;
    if (napi_create_external_arraybuffer(env, p, v.len, view_finalize, r, &ab) != napi_ok) {
        delete r;
        // Runtimes that forbid external buffers: fall back to a copy.
        napi_value b;
        void *dst;
        napi_create_arraybuffer(env, v.len, &dst, &b);
        memcpy(dst, v.data, v.len);
        ab = b;
    } else {
        napi_create_reference(env, ab, 0, &r->ab);
        h->views.insert(r);
        handle_hold(h);
    }
    Napi::Array out = Napi::Array::New(env, 4);
    out.Set(0u, Napi::Value(env, ab));
    out.Set(1u, big(env, v.epoch));
    out.Set(2u, Napi::Number::New(env, v.slot));
    out.Set(3u, Napi::String::New(env, spl_type_name((spl_type)v.type)));
    return out;
}

// viewValid(epoch, slot) -> boolean
Napi::Value Store::ViewValid(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    spl_view v = {};
    v.epoch = to_u64(info[0]);
    v.slot = info[1].As<Napi::Number>().Uint32Value();
    int rc = spl_view_valid(s, &v);
    if (rc == 0)
        return Napi::Boolean::New(env, true);
    if (rc == SPL_ESTALE)
        return Napi::Boolean::New(env, false);
    throw_spl(env, rc, "viewValid");
    return env.Undefined();
}

// ---- iteration

struct IterCtx {
    Napi::Env env;
    Napi::Array out;
    uint32_t n;
    bool values;
};

int iter_cb(const spl_entry *e, void *ud)
{
    IterCtx *c = static_cast<IterCtx *>(ud);
    Napi::Object o = Napi::Object::New(c->env);
    o.Set("key", Napi::String::New(c->env, e->key, e->key_len));
    if (c->values && e->val)
        o.Set("value", Napi::Buffer<char>::Copy(c->env, (const char *)e->val, e->meta.val_len));
    o.Set("meta", meta_obj(c->env, e->meta));
    c->out.Set(c->n++, o);
    return 0;
}

// foreach({prefix, glob, labels, labelsAny, values}) -> [{key, value?, meta}]
Napi::Value Store::Foreach(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    spl_filter f = {};
    std::string prefix, glob;
    bool values = false;
    if (info[0].IsObject()) {
        Napi::Object o = info[0].As<Napi::Object>();
        if (o.Get("prefix").IsString()) {
            prefix = o.Get("prefix").As<Napi::String>().Utf8Value();
            f.prefix = prefix.c_str();
        }
        if (o.Get("glob").IsString()) {
            glob = o.Get("glob").As<Napi::String>().Utf8Value();
            f.glob = glob.c_str();
        }
        f.labels = to_u64(o.Get("labels"));
        if (o.Get("labelsAny").ToBoolean())
            f.flags |= SPL_F_LABELS_ANY;
        values = o.Get("values").ToBoolean();
        if (values)
            f.flags |= SPL_F_VALUES;
    }
    IterCtx c{env, Napi::Array::New(env), 0, values};
    int rc = spl_foreach(s, &f, iter_cb, &c);
    if (rc < 0) {
        throw_spl(env, rc, "foreach");
        return env.Undefined();
    }
    return c.out;
}

// ---- vectors

bool vec_arg(Napi::Env env, Napi::Value v, std::vector<float> &tmp, const float **p, uint32_t *dim)
{
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
        Napi::Float32Array a = v.As<Napi::Float32Array>();
        *p = a.Data();
        *dim = (uint32_t)a.ElementLength();
        return true;
    }
    if (v.IsArray()) {
        Napi::Array a = v.As<Napi::Array>();
        tmp.resize(a.Length());
        for (uint32_t i = 0; i < a.Length(); i++)
            tmp[i] = a.Get(i).As<Napi::Number>().FloatValue();
        *p = tmp.data();
        *dim = (uint32_t)tmp.size();
        return true;
    }
    throw_type(env, "vector must be a Float32Array or an array of numbers");
    return false;
}

Napi::Value Store::VecSet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    std::vector<float> tmp;
    const float *p;
    uint32_t dim;
    if (!vec_arg(env, info[1], tmp, &p, &dim))
        return env.Undefined();
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_vec_set(s, k.p, p, dim); });
    if (rc < 0)
        throw_spl(env, rc, "vecSet", k.p);
    return env.Undefined();
}

// vecGet(key) -> Float32Array | undefined (absent key or no vector)
Napi::Value Store::VecGet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    Napi::Float32Array a = Napi::Float32Array::New(env, h->vec_dim);
    int rc = retry(s, k.p, 0, h->retry_us, [&] { return spl_vec_get(s, k.p, a.Data(), h->vec_dim, nullptr); });
    if (rc == 0)
        return a;
    if (rc == SPL_ENOENT || rc == SPL_ENOVEC)
        return env.Undefined();
    throw_spl(env, rc, "vecGet", k.p);
    return env.Undefined();
}

Napi::Value Store::VecClear(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = retry(s, k.p, 1, h->retry_us, [&] { return spl_vec_clear(s, k.p); });
    if (rc == 0)
        return Napi::Boolean::New(env, true);
    if (rc == SPL_ENOENT || rc == SPL_ENOVEC)
        return Napi::Boolean::New(env, false);
    throw_spl(env, rc, "vecClear", k.p);
    return env.Undefined();
}

// A query owning its strings and vector (the async search runs after the
// JS arguments may have changed).
struct Query {
    spl_vec_query q = {};
    std::vector<float> vec;
    std::string key, prefix;

    bool from(Napi::Env env, Napi::Object o)
    {
        Napi::Value v = o.Get("vector");
        if (!v.IsUndefined() && !v.IsNull()) {
            const float *p;
            uint32_t dim;
            std::vector<float> tmp;
            if (!vec_arg(env, v, tmp, &p, &dim))
                return false;
            vec.assign(p, p + dim);
            q.vec = vec.data();
            q.dim = dim;
        } else if (o.Get("key").IsString()) {
            key = o.Get("key").As<Napi::String>().Utf8Value();
            q.key = key.c_str();
        }
        q.k = o.Get("k").IsNumber() ? o.Get("k").As<Napi::Number>().Uint32Value() : 10;
        q.metric = (spl_metric)(o.Get("metric").IsNumber() ? o.Get("metric").As<Napi::Number>().Int32Value() : 0);
        q.labels = to_u64(o.Get("labels"));
        if (o.Get("labelsAny").ToBoolean())
            q.flags |= SPL_F_LABELS_ANY;
        if (o.Get("skipSelf").ToBoolean())
            q.flags |= SPL_VQ_SKIP_SELF;
        if (o.Get("prefix").IsString()) {
            prefix = o.Get("prefix").As<Napi::String>().Utf8Value();
            q.prefix = prefix.c_str();
        }
        if (o.Get("threads").IsNumber())
            q.threads = o.Get("threads").As<Napi::Number>().Uint32Value();
        if (o.Get("ann").ToBoolean())
            q.flags |= SPL_VQ_ANN;
        Napi::Value ef = o.Get("ef");
        if (!ef.IsUndefined()) {
            double d = ef.IsNumber() ? ef.As<Napi::Number>().DoubleValue() : -1;
            if (!(d >= 0 && d <= UINT32_MAX && d == std::floor(d))) {
                throw_type(env, "ef must be an integer, 0 (the index's default) to 2^32-1");
                return false;
            }
            q.ef = (uint32_t)d;
        }
        return true;
    }
};

Napi::Value hits_obj(Napi::Env env, const spl_vec_result *r)
{
    Napi::Array hits = Napi::Array::New(env, r->n);
    for (uint32_t i = 0; i < r->n; i++) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("key", Napi::String::New(env, r->hits[i].key, r->hits[i].key_len));
        o.Set("score", r->hits[i].score);
        o.Set("slot", r->hits[i].slot);
        o.Set("epoch", big(env, r->hits[i].epoch));
        hits.Set(i, o);
    }
    Napi::Object res = Napi::Object::New(env);
    res.Set("hits", hits);
    res.Set("scanned", (double)r->scanned);
    res.Set("skipped", (double)r->skipped);
    res.Set("approximate", Napi::Boolean::New(env, (r->flags & SPL_VR_ANN) != 0));
    return res;
}

Napi::Value Store::VecSearch(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    Query q;
    if (!q.from(env, info[0].As<Napi::Object>()))
        return env.Undefined();
    spl_vec_result *r = nullptr;
    int rc = retry(s, nullptr, 0, h->retry_us, [&] { return spl_vec_search(s, &q.q, &r); });
    if (rc < 0) {
        throw_spl(env, rc, "vecSearch", q.q.key);
        return env.Undefined();
    }
    Napi::Value out = hits_obj(env, r);
    spl_vec_result_free(r);
    return out;
}

// Work in the libuv thread pool, holding a count on the handle.
class HandleWorker : public Napi::AsyncWorker {
public:
    HandleWorker(Napi::Env env, Handle *h)
        : Napi::AsyncWorker(env), h(h), deferred(Napi::Promise::Deferred::New(env))
    {
        handle_hold(h);
    }
    ~HandleWorker() override { handle_release(h); }
    Napi::Promise Promise() { return deferred.Promise(); }

    Handle *h;
    spl_store *s = nullptr;
    int rc = 0;
    Napi::Promise::Deferred deferred;
    const char *op = "";
    std::string key;

    void OnError(const Napi::Error &e) override { deferred.Reject(e.Value()); }
    void Fail()
    {
        Napi::Env env = Env();
        throw_spl(env, rc, op, key.empty() ? nullptr : key.c_str());
        deferred.Reject(env.GetAndClearPendingException().Value());
    }
};

class SearchWorker : public HandleWorker {
public:
    SearchWorker(Napi::Env env, Handle *h, spl_store *st) : HandleWorker(env, h) { s = st; op = "vecSearch"; }
    Query q;
    spl_vec_result *r = nullptr;
    uint32_t retry_us = 0;
    void Execute() override
    {
        rc = retry(s, nullptr, 0, retry_us, [&] { return spl_vec_search(s, &q.q, &r); });
    }
    void OnOK() override
    {
        Napi::HandleScope scope(Env());
        if (rc < 0)
            return Fail();
        deferred.Resolve(hits_obj(Env(), r));
        spl_vec_result_free(r);
        r = nullptr;
    }
};

Napi::Value Store::VecSearchAsync(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    SearchWorker *w = new SearchWorker(env, h, s);
    if (!w->q.from(env, info[0].As<Napi::Object>())) {
        delete w;
        return env.Undefined();
    }
    w->retry_us = h->retry_us;
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
}

// ---- signals

#define GROUP_OP(NAME, CALL, OPNAME)                                                               \
    Napi::Value Store::NAME(const Napi::CallbackInfo &info)                                       \
    {                                                                                             \
        ARGS_KEY(0);                                                                              \
        uint64_t g = to_u64(info[1]);                                                             \
        int rc = retry(s, k.p, 1, h->retry_us, [&] { return CALL(s, k.p, g); });                  \
        if (rc < 0)                                                                               \
            throw_spl(env, rc, OPNAME, k.p);                                                      \
        return env.Undefined();                                                                   \
    }
GROUP_OP(Watch, spl_watch, "watch")
GROUP_OP(Unwatch, spl_unwatch, "unwatch")

Napi::Value Store::Bind(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    int rc = spl_bind(s, info[0].As<Napi::Number>().Uint32Value(), to_u64(info[1]));
    if (rc < 0)
        throw_spl(env, rc, "bind");
    return env.Undefined();
}

Napi::Value Store::Unbind(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    int rc = spl_unbind(s, info[0].As<Napi::Number>().Uint32Value(), to_u64(info[1]));
    if (rc < 0)
        throw_spl(env, rc, "unbind");
    return env.Undefined();
}

Napi::Value Store::BindGet(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    uint64_t g = 0;
    int rc = spl_bind_get(s, info[0].As<Napi::Number>().Uint32Value(), &g);
    if (rc < 0) {
        throw_spl(env, rc, "bindings");
        return env.Undefined();
    }
    return big(env, g);
}

Napi::Value Store::Bump(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = retry(s, k.p, 0, h->retry_us, [&] { return spl_bump(s, k.p); }); // bump reads the key
    if (rc < 0)
        throw_spl(env, rc, "bump", k.p);
    return env.Undefined();
}

Napi::Value Store::Signal(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    int rc = spl_signal(s, to_u64(info[0]));
    if (rc < 0)
        throw_spl(env, rc, "signal");
    return env.Undefined();
}

Napi::Value Store::Pulses(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    uint64_t c = 0;
    int rc = spl_pulses(s, info[0].As<Napi::Number>().Uint32Value(), &c);
    if (rc < 0) {
        throw_spl(env, rc, "pulses");
        return env.Undefined();
    }
    return big(env, c);
}

// keyWait(key, epoch, timeoutMs, cancel Int32Array) -> Promise<BigInt | null>
// spl_key_wait sleeps on the store's futex in a pool thread, in slices of
// at most 100 ms so that an abort (cancel[0] = 1) is seen.
class KeyWaitWorker : public HandleWorker {
public:
    KeyWaitWorker(Napi::Env env, Handle *h, spl_store *st) : HandleWorker(env, h) { s = st; op = "waitKey"; }
    uint64_t epoch = 0, out = 0;
    double timeout_ms = -1;
    Napi::Reference<Napi::Int32Array> cancel_ref;
    int32_t *cancel = nullptr;
    void Execute() override
    {
        uint64_t end = timeout_ms < 0 ? UINT64_MAX : mono_ns() + (uint64_t)(timeout_ms * 1e6);
        for (;;) {
            if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
                rc = SPL_ECANCELED_JS;
                return;
            }
            if (h->closing.load(std::memory_order_acquire)) {
                rc = SPL_EINVAL; // the store was closed under the wait
                op = "waitKey (store closed)";
                return;
            }
            uint64_t now = mono_ns();
            int64_t slice = 100000000; // 100 ms
            if (end != UINT64_MAX) {
                if (now >= end) {
                    rc = SPL_ETIMEDOUT;
                    return;
                }
                if ((int64_t)(end - now) < slice)
                    slice = (int64_t)(end - now);
            }
            rc = spl_key_wait(s, key.c_str(), epoch, slice, &out);
            if (rc != SPL_ETIMEDOUT)
                return;
        }
    }
    void OnOK() override
    {
        Napi::HandleScope scope(Env());
        if (rc == 0)
            deferred.Resolve(big(Env(), out));
        else if (rc == SPL_ENOENT)
            deferred.Resolve(Env().Null());
        else if (rc == SPL_ECANCELED_JS) {
            Napi::Error e = Napi::Error::New(Env(), "waitKey aborted");
            e.Set("name", "AbortError");
            e.Set("code", "ABORT_ERR");
            deferred.Reject(e.Value());
        } else
            Fail();
    }
    static constexpr int SPL_ECANCELED_JS = -125;
};

Napi::Value Store::KeyWait(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    KeyWaitWorker *w = new KeyWaitWorker(env, h, s);
    w->key.assign(k.p, k.len);
    w->epoch = to_u64(info[1]);
    w->timeout_ms = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    if (info[3].IsTypedArray()) {
        Napi::Int32Array c = info[3].As<Napi::Int32Array>();
        w->cancel_ref = Napi::Persistent(c);
        w->cancel = c.Data();
    }
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
}

// ---- the benchmark's C baseline: bench/bindings/c_loop.h (the workload
// and C loops every binding's bench shares), on this store, in this
// process.  Only in a build inside the repository (the header is not
// installed); elsewhere benchC throws.
#if __has_include("../../../bench/bindings/c_loop.h")
#include "../../../bench/bindings/c_loop.h"
#define SPL_NODE_BENCH 1
#endif

// benchC(op 0 get / 1 set, dependent 0/1, order Uint32Array, value Buffer)
// -> ns for the whole loop over the keys "key:%08u" (c_loop.h).
Napi::Value Store::BenchC(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
#ifdef SPL_NODE_BENCH
    int op = info[0].As<Napi::Number>().Int32Value();
    int dep = info[1].As<Napi::Number>().Int32Value();
    Napi::Uint32Array order = info[2].As<Napi::Uint32Array>();
    Napi::Buffer<char> val = info[3].As<Napi::Buffer<char>>();
    size_t n = order.ElementLength();
    uint32_t keys = 0;
    for (size_t i = 0; i < n; i++)
        keys = order.Data()[i] >= keys ? order.Data()[i] + 1 : keys;
    // The names up to the largest index used (hot orders use a few).
    std::vector<char> names((size_t)keys * SPLB_KEY_STRIDE);
    splb_names(names.data(), keys);
    uint64_t ns = splb_loop(s, names.data(), order.Data(), n, op, dep, val.Data(), val.Length());
    if (!ns) {
        throw_spl(env, SPL_EINVAL, "benchC: an operation failed");
        return env.Undefined();
    }
    return Napi::Number::New(env, (double)ns);
#else
    throw_spl(env, SPL_EINVAL, "benchC: built outside the repository (no bench/bindings/c_loop.h)");
    return env.Undefined();
#endif
}

// benchOrder(random 0/1, n, keys) -> Uint32Array (c_loop.h's order)
Napi::Value Store::BenchOrder(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    int random = info[0].As<Napi::Number>().Int32Value();
    size_t n = info[1].As<Napi::Number>().Uint32Value();
    uint32_t keys = info[2].As<Napi::Number>().Uint32Value();
    Napi::Uint32Array a = Napi::Uint32Array::New(env, n);
#ifdef SPL_NODE_BENCH
    splb_order(a.Data(), n, keys, random);
#else
    (void)random;
    (void)keys;
#endif
    return a;
}

Napi::Value Store::Repair(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    int rc = spl_signal_repair(s);
    if (rc < 0) {
        throw_spl(env, rc, "signalRepair");
        return env.Undefined();
    }
    return Napi::Number::New(env, rc);
}

// ---- tandem keys (base, base.1, base.2, ...)

Napi::Value Store::TandemKey(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    std::vector<char> out((size_t)h->key_max + 1);
    int rc = spl_tandem_key(s, k.p, info[1].As<Napi::Number>().Uint32Value(), out.data(), out.size());
    if (rc < 0) {
        throw_spl(env, rc, "tandemKey", k.p);
        return env.Undefined();
    }
    return Napi::String::New(env, out.data(), (size_t)rc);
}

// tandemSet(base, values[])
Napi::Value Store::TandemSet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    Napi::Array a = info[1].As<Napi::Array>();
    uint32_t n = a.Length();
    std::vector<std::string> copies(n); // strings as UTF-8 (bytes are used in place)
    std::vector<const void *> vals(n);
    std::vector<size_t> lens(n);
    for (uint32_t i = 0; i < n; i++) {
        Napi::Value v = a.Get(i);
        if (v.IsString()) {
            copies[i] = v.As<Napi::String>().Utf8Value();
            vals[i] = copies[i].data();
            lens[i] = copies[i].size();
        } else if (!value_bytes(env, h, v, &vals[i], &lens[i])) {
            return env.Undefined();
        }
    }
    int rc = spl_tandem_set(s, k.p, vals.data(), lens.data(), n, h->retry_us);
    if (rc < 0)
        throw_spl(env, rc, "tandemSet", k.p);
    return env.Undefined();
}

// tandemGet(base, i) -> Buffer | undefined
Napi::Value Store::TandemGet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    uint32_t i = info[1].As<Napi::Number>().Uint32Value();
    std::vector<char> buf(h->val_max);
    size_t n = 0;
    char m[SPL_KEY_MAX_LIMIT + 1];
    int rc = retry(s, member(s, k.p, i, m), 0, h->retry_us,
                   [&] { return spl_tandem_get(s, k.p, i, buf.data(), buf.size(), &n); });
    if (rc == 0)
        return Napi::Buffer<char>::Copy(env, buf.data(), n);
    if (rc == SPL_ENOENT)
        return env.Undefined();
    throw_spl(env, rc, "tandemGet", k.p);
    return env.Undefined();
}

Napi::Value Store::TandemCount(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = retry(s, nullptr, 0, h->retry_us, [&] { return spl_tandem_count(s, k.p); }) /* several keys */;
    if (rc < 0) {
        throw_spl(env, rc, "tandemCount", k.p);
        return env.Undefined();
    }
    return Napi::Number::New(env, rc);
}

Napi::Value Store::TandemUnset(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    int rc = spl_tandem_unset(s, k.p, h->retry_us);
    if (rc < 0) {
        throw_spl(env, rc, "tandemUnset", k.p);
        return env.Undefined();
    }
    return Napi::Number::New(env, rc);
}

// tandemVecSet(base, Float32Array of n * vecDim | array of vectors)
Napi::Value Store::TandemVecSet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    std::vector<float> flat;
    const float *p;
    uint32_t total;
    Napi::Value v = info[1];
    uint32_t dim = h->vec_dim;
    if (dim == 0) { // a store without vectors, as the flat form says
        throw_spl(env, SPL_ENOTSUP, "tandemVecSet", k.p);
        return env.Undefined();
    }
    if (v.IsArray() && v.As<Napi::Array>().Length() > 0 && !v.As<Napi::Array>().Get(0u).IsNumber()) {
        Napi::Array a = v.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
            std::vector<float> tmp;
            const float *q;
            uint32_t d;
            if (!vec_arg(env, a.Get(i), tmp, &q, &d))
                return env.Undefined();
            if (d != h->vec_dim) {
                throw_spl(env, SPL_EDIM, "tandemVecSet", k.p);
                return env.Undefined();
            }
            flat.insert(flat.end(), q, q + d);
        }
        p = flat.data();
        total = (uint32_t)flat.size();
    } else if (!vec_arg(env, v, flat, &p, &total)) {
        return env.Undefined();
    }
    if (total % dim) {
        throw_spl(env, SPL_EDIM, "tandemVecSet", k.p);
        return env.Undefined();
    }
    int rc = spl_tandem_vec_set(s, k.p, p, total / dim, dim, h->retry_us);
    if (rc < 0)
        throw_spl(env, rc, "tandemVecSet", k.p);
    return env.Undefined();
}

Napi::Value Store::TandemVecGet(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    uint32_t i = info[1].As<Napi::Number>().Uint32Value();
    Napi::Float32Array a = Napi::Float32Array::New(env, h->vec_dim);
    char m[SPL_KEY_MAX_LIMIT + 1];
    int rc = retry(s, member(s, k.p, i, m), 0, h->retry_us,
                   [&] { return spl_tandem_vec_get(s, k.p, i, a.Data(), h->vec_dim); });
    if (rc == 0)
        return a;
    if (rc == SPL_ENOENT || rc == SPL_ENOVEC)
        return env.Undefined();
    throw_spl(env, rc, "tandemVecGet", k.p);
    return env.Undefined();
}

// prepare(key) -> NativePreparedKey
// Marks the NativePreparedKeys that Prepare made (KeyList checks it).
static const napi_type_tag prep_tag = {0x73706c696e746572ull, 0x707265706b657931ull};

Napi::Value Store::Prepare(const Napi::CallbackInfo &info)
{
    ARGS_KEY(0);
    auto *d = env.GetInstanceData<AddonData>();
    Napi::Object o = d->prep_ctor.New({});
    if (env.IsExceptionPending())
        return env.Undefined();
    Prep *p = Prep::Unwrap(o);
    p->key.assign(k.p, k.len);
    int rc = spl_key_prep(s, p->key.c_str(), &p->k);
    if (rc < 0) {
        throw_spl(env, rc, "prepare", k.p);
        return env.Undefined();
    }
    p->h = h;
    h->refs++;
    napi_type_tag_object(env, o, &prep_tag);
    return o;
}

static const napi_type_tag batch_tag = {0x73706c696e746572ull, 0x6b65796261746368ull};

// The spl_keys a batch call works on: a NativeKeyBatch's (one unwrap), or
// those of an array of NativePreparedKey, each recognised by the type tag
// Prepare gives it (a lookup of one private property, where instanceof
// walks the prototype chain).  from() throws a TypeError for anything else.
struct KeyList {
    const spl_key *k = nullptr;
    size_t n = 0;
    Batch *b = nullptr;
    std::vector<spl_key> own;
    std::vector<Prep *> preps;

    const char *name(size_t i) const { return b ? b->bytes.data() + b->offs[i] : preps[i]->key.c_str(); }

    bool from(Napi::Env env, Napi::Value v)
    {
        bool ok = false;
        void *w = nullptr;
        if (v.IsObject() && !v.IsArray() && napi_check_object_type_tag(env, v, &batch_tag, &ok) == napi_ok && ok &&
            napi_unwrap(env, v, &w) == napi_ok && w) {
            b = static_cast<Batch *>(w);
            k = b->keys.data();
            n = b->keys.size();
            return true;
        }
        if (!v.IsArray()) {
            if (!env.IsExceptionPending())
                throw_type(env, "keys must be an array of PreparedKey, or a KeyBatch");
            return false;
        }
        napi_value a = v;
        uint32_t len = 0;
        napi_get_array_length(env, a, &len);
        own.resize(len);
        preps.resize(len);
        for (uint32_t i = 0; i < len; i++) {
            napi_value e;
            ok = false;
            w = nullptr;
            if (napi_get_element(env, a, i, &e) != napi_ok ||
                napi_check_object_type_tag(env, e, &prep_tag, &ok) != napi_ok || !ok ||
                napi_unwrap(env, e, &w) != napi_ok || !w) {
                if (!env.IsExceptionPending())
                    throw_type(env, "keys must be PreparedKey objects");
                return false;
            }
            preps[i] = static_cast<Prep *>(w);
            own[i] = preps[i]->k;
        }
        k = own.data();
        n = len;
        return true;
    }
};

// prepareMany([key]) -> NativeKeyBatch: every key (string or bytes)
// measured and hashed for this store once, its bytes copied.
Napi::Value Store::PrepareMany(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    if (!info[0].IsArray()) {
        throw_type(env, "prepareMany(keys: array)");
        return env.Undefined();
    }
    Napi::Array a = info[0].As<Napi::Array>();
    uint32_t n = a.Length();
    auto *d = env.GetInstanceData<AddonData>();
    Napi::Object o = d->batch_ctor.New({});
    if (env.IsExceptionPending())
        return env.Undefined();
    Batch *b = Batch::Unwrap(o);
    b->offs.resize(n);
    for (uint32_t i = 0; i < n; i++) {
        Key k;
        if (!k.from(env, a.Get(i), h->key_max))
            return env.Undefined();
        b->offs[i] = b->bytes.size();
        b->bytes.insert(b->bytes.end(), k.p, k.p + k.len);
        b->bytes.push_back('\0');
    }
    b->keys.resize(n); // the block is complete: its addresses no longer move
    for (uint32_t i = 0; i < n; i++) {
        const char *key = b->bytes.data() + b->offs[i];
        int rc = spl_key_prep(s, key, &b->keys[i]);
        if (rc < 0) {
            throw_spl(env, rc, "prepareMany", key);
            return env.Undefined();
        }
    }
    napi_type_tag_object(env, o, &batch_tag);
    return o;
}

// getManyInto([NativePreparedKey] | NativeKeyBatch, buf, stride, lens Int32Array) -> found:
// value i to buf[i * stride ...], its length to lens[i]; -1 for an absent
// key; for a value longer than stride, the length it needs (> stride).
// Nothing is allocated per key; busy keys are read again alone (retry).
// Throws the first other failure (SPL_EINVAL for a key prepared for
// another store), and SPL_EINVAL if buf or lens is too small.
Napi::Value Store::GetManyInto(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    KeyList keys;
    if (!keys.from(env, info[0]))
        return env.Undefined();
    if (!info[1].IsTypedArray() || !info[3].IsTypedArray() ||
        info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        throw_type(env, "getManyInto(keys, buf: Uint8Array, stride, lens: Int32Array)");
        return env.Undefined();
    }
    Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
    size_t stride = info[2].As<Napi::Number>().Uint32Value();
    Napi::Int32Array lens = info[3].As<Napi::Int32Array>();
    size_t n = keys.n;
    if (n == 0)
        return Napi::Number::New(env, 0);
    if (stride == 0 || buf.ByteLength() / stride < n || lens.ElementLength() < n) {
        throw_spl(env, SPL_EINVAL, "getManyInto: buf must hold keys x stride bytes, lens one entry per key");
        return env.Undefined();
    }
    char *b = reinterpret_cast<char *>(buf.Data());
    size_t ln[64];
    int rcs[64];
    int found = 0;
    for (size_t i = 0; i < n; i += 64) {
        size_t m = n - i < 64 ? n - i : 64;
        int rc = spl_get_many(s, keys.k + i, m, b + i * stride, stride, ln, rcs);
        if (rc < 0) {
            throw_spl(env, rc, "getManyInto");
            return env.Undefined();
        }
        for (size_t j = 0; j < m; j++) {
            int r = rcs[j];
            if (r == SPL_EAGAIN)
                r = retry(s, keys.k[i + j].key, 0, h->retry_us, [&] { return spl_get_k(s, &keys.k[i + j], b + (i + j) * stride, stride, &ln[j]); });
            if (r == 0 || r == SPL_ENOBUFS) {
                found += r == 0;
                lens[i + j] = (int32_t)ln[j];
            } else if (r == SPL_ENOENT) {
                lens[i + j] = -1;
            } else {
                throw_spl(env, r, "getMany", keys.name(i + j));
                return env.Undefined();
            }
        }
    }
    return Napi::Number::New(env, found);
}

// setMany([NativePreparedKey] | NativeKeyBatch, [value]); throws the first failure.
Napi::Value Store::SetMany(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    spl_store *s = live(env);
    if (!s)
        return env.Undefined();
    KeyList keys;
    if (!keys.from(env, info[0]))
        return env.Undefined();
    size_t n = keys.n;
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != n) {
        throw_type(env, "setMany: one value per key");
        return env.Undefined();
    }
    Napi::Array va = info[1].As<Napi::Array>();
    std::vector<std::string> vals(n);
    size_t stride = 1;
    for (size_t i = 0; i < n; i++) {
        const void *d;
        size_t len;
        if (!value_bytes(env, h, va.Get((uint32_t)i), &d, &len))
            return env.Undefined();
        vals[i].assign((const char *)d, len);
        if (len > stride)
            stride = len;
    }
    std::vector<char> buf(n * stride + 1);
    std::vector<size_t> lens(n);
    for (size_t i = 0; i < n; i++) {
        memcpy(buf.data() + i * stride, vals[i].data(), vals[i].size());
        lens[i] = vals[i].size();
    }
    std::vector<int> rcs(n);
    int rc = spl_set_many(s, keys.k, n, buf.data(), stride, lens.data(), rcs.data());
    if (rc < 0) {
        throw_spl(env, rc, "setMany");
        return env.Undefined();
    }
    for (size_t i = 0; i < n; i++) {
        int r = rcs[i];
        if (r == SPL_EAGAIN)
            r = retry(s, keys.k[i].key, 1, h->retry_us, [&] { return spl_set_k(s, &keys.k[i], vals[i].data(), vals[i].size()); });
        if (r < 0) {
            throw_spl(env, r, "setMany", keys.name(i));
            return env.Undefined();
        }
    }
    return env.Undefined();
}

Napi::Function Store::Init(Napi::Env env)
{
    return DefineClass(env, "NativeStore",
                       {
                           InstanceMethod("attach", &Store::Attach),
                           InstanceMethod("close", &Store::Close),
                           InstanceMethod("closed", &Store::Closed),
                           InstanceMethod("setRetry", &Store::SetRetry),
                           InstanceMethod("info", &Store::Info),
                           InstanceMethod("flush", &Store::Flush),
                           InstanceMethod("fd", &Store::Fd),
                           InstanceMethod("get", &Store::Get),
                           InstanceMethod("getInto", &Store::GetInto),
                           InstanceMethod("set", &Store::Set),
                           InstanceMethod("unset", &Store::Unset),
                           InstanceMethod("exists", &Store::Exists),
                           InstanceMethod("append", &Store::Append),
                           InstanceMethod("cas", &Store::Cas),
                           InstanceMethod("int", &Store::Int),
                           InstanceMethod("add", &Store::Add),
                           InstanceMethod("meta", &Store::Meta),
                           InstanceMethod("setType", &Store::TypeSet),
                           InstanceMethod("setFlags", &Store::FlagsSet),
                           InstanceMethod("setLabels", &Store::LabelsSet),
                           InstanceMethod("clearLabels", &Store::LabelsClear),
                           InstanceMethod("touch", &Store::Touch),
                           InstanceMethod("view", &Store::View),
                           InstanceMethod("viewValid", &Store::ViewValid),
                           InstanceMethod("foreach", &Store::Foreach),
                           InstanceMethod("vecSet", &Store::VecSet),
                           InstanceMethod("vecGet", &Store::VecGet),
                           InstanceMethod("vecClear", &Store::VecClear),
                           InstanceMethod("vecSearch", &Store::VecSearch),
                           InstanceMethod("vecSearchAsync", &Store::VecSearchAsync),
                           InstanceMethod("watch", &Store::Watch),
                           InstanceMethod("unwatch", &Store::Unwatch),
                           InstanceMethod("bind", &Store::Bind),
                           InstanceMethod("unbind", &Store::Unbind),
                           InstanceMethod("bindings", &Store::BindGet),
                           InstanceMethod("bump", &Store::Bump),
                           InstanceMethod("signal", &Store::Signal),
                           InstanceMethod("pulses", &Store::Pulses),
                           InstanceMethod("keyWait", &Store::KeyWait),
                           InstanceMethod("benchC", &Store::BenchC),
                           InstanceMethod("benchOrder", &Store::BenchOrder),
                           InstanceMethod("signalRepair", &Store::Repair),
                           InstanceMethod("tandemKey", &Store::TandemKey),
                           InstanceMethod("tandemSet", &Store::TandemSet),
                           InstanceMethod("tandemGet", &Store::TandemGet),
                           InstanceMethod("tandemCount", &Store::TandemCount),
                           InstanceMethod("tandemUnset", &Store::TandemUnset),
                           InstanceMethod("tandemVecSet", &Store::TandemVecSet),
                           InstanceMethod("tandemVecGet", &Store::TandemVecGet),
                           InstanceMethod("prepare", &Store::Prepare),
                           InstanceMethod("prepareMany", &Store::PrepareMany),
                           InstanceMethod("getManyInto", &Store::GetManyInto),
                           InstanceMethod("setMany", &Store::SetMany),
                       });
}

// ---------------------------------------------------------------- Subscription

struct SubNative {
    Handle *h = nullptr;
    spl_sub *sub = nullptr;
    uv_poll_t *poll = nullptr;
    napi_env env = nullptr;
    Napi::FunctionReference cb;
    std::vector<char> key;
};

void poll_closed(uv_handle_t *p) { delete reinterpret_cast<uv_poll_t *>(p); }

// Stop polling, close the subscription and give back its count.
void sub_close_native(SubNative *n)
{
    if (!n->sub)
        return;
    if (n->poll) {
        uv_poll_stop(n->poll);
        uv_close(reinterpret_cast<uv_handle_t *>(n->poll), poll_closed);
        n->poll = nullptr;
    }
    if (!n->cb.IsEmpty())
        n->cb.Reset();
    spl_sub_close(n->sub);
    n->sub = nullptr;
    n->h->subs.erase(n);
    handle_release(n->h);
    n->h = nullptr;
}

void on_poll(uv_poll_t *p, int status, int events)
{
    SubNative *n = static_cast<SubNative *>(p->data);
    if (!n->sub)
        return;
    // Re-arm the eventfd: read its counter (non-blocking; EAGAIN is fine).
    uint64_t v;
    ssize_t r = read(spl_sub_fd(n->sub), &v, sizeof v);
    (void)r;
    // Take the pulses in (a check, never a sleep): spl_sub_seen then counts
    // what this subscription has been woken for.  The descriptor's thread
    // keeps its own snapshot, so this does not race with it.
    uint64_t fired = 0;
    spl_sub_wait(n->sub, 0, &fired);
    if (n->cb.IsEmpty())
        return;
    Napi::Env env(n->env);
    Napi::HandleScope scope(env);
    napi_value global, fn = n->cb.Value(), result;
    napi_get_global(n->env, &global);
    napi_status st = napi_make_callback(n->env, nullptr, global, fn, 0, nullptr, &result);
    if (st == napi_pending_exception) {
        napi_value err;
        napi_get_and_clear_last_exception(n->env, &err);
        napi_fatal_exception(n->env, err);
    }
}

class Sub : public Napi::ObjectWrap<Sub> {
public:
    static Napi::Function Init(Napi::Env env)
    {
        return DefineClass(env, "NativeSubscription",
                           {
                               InstanceMethod("start", &Sub::Start),
                               InstanceMethod("next", &Sub::Next),
                               InstanceMethod("seen", &Sub::Seen),
                               InstanceMethod("close", &Sub::Close),
                               InstanceMethod("ref", &Sub::Ref),
                               InstanceMethod("unref", &Sub::Unref),
                           });
    }

    // new NativeSubscription(store, groups BigInt)
    explicit Sub(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Sub>(info)
    {
        Napi::Env env = info.Env();
        Store *st = Store::Unwrap(info[0].As<Napi::Object>());
        spl_store *s = st->live(env);
        if (!s)
            return;
        int rc = spl_sub_open(s, to_u64(info[1]), &n.sub);
        if (rc < 0) {
            n.sub = nullptr;
            throw_spl(env, rc, "subscribe");
            return;
        }
        n.h = st->h;
        handle_hold(n.h);
        n.h->subs.insert(&n);
        n.env = env;
        n.key.resize(n.h->key_max + 1);
    }
    ~Sub() override { sub_close_native(&n); }

private:
    SubNative n;

    bool ok(Napi::Env env)
    {
        if (!n.sub) {
            throw_spl(env, SPL_EINVAL, "subscription is closed");
            return false;
        }
        return true;
    }

    // start(callback): poll the descriptor; callback() runs on the event
    // loop whenever a subscribed group pulsed (then drain with next()).
    Napi::Value Start(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        if (!ok(env))
            return env.Undefined();
        n.cb = Napi::Persistent(info[0].As<Napi::Function>());
        if (n.poll)
            return env.Undefined();
        int fd = spl_sub_fd(n.sub);
        if (fd < 0) {
            throw_spl(env, fd, "subscribe");
            return env.Undefined();
        }
        uv_loop_t *loop = nullptr;
        napi_get_uv_event_loop(env, &loop);
        n.poll = new uv_poll_t;
        n.poll->data = &n;
        int rc = uv_poll_init(loop, n.poll, fd);
        if (rc == 0)
            rc = uv_poll_start(n.poll, UV_READABLE, on_poll);
        if (rc != 0) {
            delete n.poll;
            n.poll = nullptr;
            Napi::Error::New(env, uv_strerror(rc)).ThrowAsJavaScriptException();
        }
        return env.Undefined();
    }

    // next() -> event object | null (nothing new); overflow is an event.
    Napi::Value Next(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        if (!ok(env))
            return env.Undefined();
        spl_event ev;
        int rc = spl_sub_next(n.sub, &ev, n.key.data(), n.key.size());
        if (rc == SPL_ENOENT)
            return env.Null();
        Napi::Object o = Napi::Object::New(env);
        if (rc == SPL_EOVERFLOW) {
            o.Set("kind", "overflow");
            return o;
        }
        if (rc < 0) {
            throw_spl(env, rc, "next");
            return env.Undefined();
        }
        static const char *kinds[] = {"?", "changed", "deleted", "bumped", "signal", "unknown"};
        o.Set("kind", kinds[ev.kind <= 5 ? ev.kind : 0]);
        o.Set("key", ev.kind == SPL_EV_SIGNAL || ev.kind == SPL_EV_UNKNOWN
                         ? env.Null()
                         : Napi::String::New(env, n.key.data(), ev.key_len));
        o.Set("seq", big(env, ev.seq));
        o.Set("epoch", big(env, ev.epoch));
        o.Set("groups", big(env, ev.groups));
        o.Set("slot", ev.slot == SPL_EV_NOSLOT ? -1.0 : (double)ev.slot);
        return o;
    }

    Napi::Value Seen(const Napi::CallbackInfo &info)
    {
        Napi::Env env = info.Env();
        if (!ok(env))
            return env.Undefined();
        uint64_t c = 0, fired;
        spl_sub_wait(n.sub, 0, &fired); // take in pulses up to now (a check)
        int rc = spl_sub_seen(n.sub, info[0].As<Napi::Number>().Uint32Value(), &c);
        if (rc < 0) {
            throw_spl(env, rc, "seen");
            return env.Undefined();
        }
        return big(env, c);
    }

    Napi::Value Close(const Napi::CallbackInfo &info)
    {
        sub_close_native(&n);
        return info.Env().Undefined();
    }

    Napi::Value Ref(const Napi::CallbackInfo &info)
    {
        if (n.poll)
            uv_ref(reinterpret_cast<uv_handle_t *>(n.poll));
        return info.Env().Undefined();
    }

    Napi::Value Unref(const Napi::CallbackInfo &info)
    {
        if (n.poll)
            uv_unref(reinterpret_cast<uv_handle_t *>(n.poll));
        return info.Env().Undefined();
    }
};

// ---------------------------------------------------------------- module

Napi::Value Destroy(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    std::string name = info[0].As<Napi::String>().Utf8Value();
    spl_options opt;
    read_options(info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env), &opt);
    int rc = spl_destroy(name.c_str(), &opt);
    if (rc == SPL_ENOENT)
        return Napi::Boolean::New(env, false);
    if (rc < 0) {
        throw_spl(env, rc, "destroy", name.c_str());
        return env.Undefined();
    }
    return Napi::Boolean::New(env, true);
}

Napi::Value SetErrorClass(const Napi::CallbackInfo &info)
{
    auto *d = info.Env().GetInstanceData<AddonData>();
    d->error_class = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
}

Napi::Value ErrName(const Napi::CallbackInfo &info)
{
    return Napi::String::New(info.Env(), spl_err_name(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value SimdName(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), spl_vec_simd()); }

Napi::Value SimdForce(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    std::string name = info[0].As<Napi::String>().Utf8Value();
    int rc = spl_vec_simd_force(name.c_str());
    if (rc < 0)
        throw_spl(env, rc, "simdForce", name.c_str());
    return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
    AddonData *d = new AddonData();
    env.SetInstanceData(d);
    Napi::Function store = Store::Init(env);
    Napi::Function sub = Sub::Init(env);
    d->store_ctor = Napi::Persistent(store);
    d->sub_ctor = Napi::Persistent(sub);
    Napi::Function prep = Prep::Init(env);
    d->prep_ctor = Napi::Persistent(prep);
    Napi::Function batch = Batch::Init(env);
    d->batch_ctor = Napi::Persistent(batch);
    exports.Set("NativeStore", store);
    exports.Set("NativeSubscription", sub);
    exports.Set("destroy", Napi::Function::New(env, Destroy));
    exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
    exports.Set("errName", Napi::Function::New(env, ErrName));
    exports.Set("simd", Napi::Function::New(env, SimdName));
    exports.Set("simdForce", Napi::Function::New(env, SimdForce));
    Napi::Object errs = Napi::Object::New(env);
#define SPL__ERR_EXPORT(name, val, text) errs.Set(#name, Napi::Number::New(env, val));
    SPL_ERRNO_MAP(SPL__ERR_EXPORT)
#undef SPL__ERR_EXPORT
    exports.Set("errors", errs);
    Napi::Object ver = Napi::Object::New(env);
    exports.Set("version", Napi::String::New(env, std::to_string(SPL_VERSION_MAJOR) + "." +
                                                      std::to_string(SPL_VERSION_MINOR) + "." +
                                                      std::to_string(SPL_VERSION_PATCH)));
    (void)ver;
    return exports;
}

} // namespace

NODE_API_MODULE(splinter, Init)

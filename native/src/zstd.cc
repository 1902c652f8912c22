// zstd decompression through the system's libzstd, for layer blobs.
//
// libzstd is loaded with dlopen("libzstd.so.1") on first use, not linked: the
// addon builds without zstd's headers and still loads on a host without the
// library, where zstdLoad() says why and callers fall back to a JS decoder. Only
// the stable streaming API is used (ZSTD_createDStream … ZSTD_decompressStream),
// declared here as zstd.h declares it.
//
// zstdDecode(decoder, input) runs on the threadpool and resolves with the output
// as 1 MiB buffers, how much input it consumed, and zstd's hint (0 when a frame
// just ended and everything is flushed; meaningless for a call that read and wrote
// nothing). It stops after OUTPUT_CAP bytes of output
// even when input is left, so a small highly compressed chunk cannot inflate into
// gigabytes before the reader applies backpressure: the caller passes the rest
// of the input again. One call at a time per decoder (the JS stream serialises).
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>
#include <string>
#include <vector>

#include "exports.h"

namespace {

struct InBuffer {
  const void* src;
  size_t size;
  size_t pos;
};
struct OutBuffer {
  void* dst;
  size_t size;
  size_t pos;
};
struct DStream;

struct ZstdApi {
  DStream* (*createDStream)();
  size_t (*freeDStream)(DStream*);
  size_t (*initDStream)(DStream*);
  size_t (*decompressStream)(DStream*, OutBuffer*, InBuffer*);
  unsigned (*isError)(size_t);
  const char* (*getErrorName)(size_t);
};

ZstdApi api;
std::string load_error;  // empty once loaded
std::once_flag load_once;

void LoadZstd() {
  void* h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    load_error = std::string("libzstd.so.1 not loadable: ") + (e != nullptr ? e : "unknown error");
    return;
  }
  struct Sym {
    const char* name;
    void** slot;
  } syms[] = {
      {"ZSTD_createDStream", reinterpret_cast<void**>(&api.createDStream)},
      {"ZSTD_freeDStream", reinterpret_cast<void**>(&api.freeDStream)},
      {"ZSTD_initDStream", reinterpret_cast<void**>(&api.initDStream)},
      {"ZSTD_decompressStream", reinterpret_cast<void**>(&api.decompressStream)},
      {"ZSTD_isError", reinterpret_cast<void**>(&api.isError)},
      {"ZSTD_getErrorName", reinterpret_cast<void**>(&api.getErrorName)},
  };
  for (const Sym& s : syms) {
    *s.slot = dlsym(h, s.name);
    if (*s.slot == nullptr) {
      load_error = std::string("libzstd.so.1 lacks ") + s.name;
      return;
    }
  }
}

bool Loaded() {
  std::call_once(load_once, LoadZstd);
  return load_error.empty();
}

constexpr size_t kBlock = 1 << 20;
constexpr size_t kOutputCap = 8 << 20;

struct Decoder {
  DStream* stream = nullptr;
  bool busy = false;
  bool freed = false;
};

void FreeDecoder(Decoder* d) {
  if (d->stream != nullptr) api.freeDStream(d->stream);
  d->stream = nullptr;
}

void FinalizeDecoder(Napi::Env, Decoder* d) {
  FreeDecoder(d);
  delete d;
}

Decoder* DecoderOf(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), std::string(fn) + ": decoder must be a handle from zstdDecoder()").ThrowAsJavaScriptException();
    return nullptr;
  }
  return info[0].As<Napi::External<Decoder>>().Data();
}

class DecodeWorker : public Napi::AsyncWorker {
 public:
  DecodeWorker(Napi::Env env, Napi::External<Decoder> handle, Napi::Buffer<uint8_t> input)
      : Napi::AsyncWorker(env, "berth:zstdDecode"),
        deferred_(Napi::Promise::Deferred::New(env)),
        decoder_(handle.Data()),
        handle_(Napi::Persistent(handle)),
        input_ref_(Napi::Persistent(input)),
        input_(input.Data()),
        input_size_(input.Length()) {
    decoder_->busy = true;
  }

  ~DecodeWorker() override {
    for (char* b : blocks_) free(b);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    InBuffer in{input_, input_size_, 0};
    size_t produced = 0;
    for (;;) {
      char* block = static_cast<char*>(malloc(kBlock));
      if (block == nullptr) {
        error_ = "out of memory";
        break;
      }
      OutBuffer out{block, kBlock, 0};
      size_t before = in.pos;
      size_t ret = api.decompressStream(decoder_->stream, &out, &in);
      if (api.isError(ret)) {
        free(block);
        error_ = api.getErrorName(ret);
        break;
      }
      // A call that neither read nor wrote (everything was flushed) keeps the previous
      // hint: after a frame's end zstd already asks for the next frame's header.
      if (in.pos != before || out.pos > 0) hint_ = ret;
      if (out.pos > 0) {
        if (out.pos < kBlock) {
          char* shrunk = static_cast<char*>(realloc(block, out.pos));  // the buffer's size is what memory accounting sees
          if (shrunk != nullptr) block = shrunk;
        }
        blocks_.push_back(block);
        sizes_.push_back(out.pos);
        produced += out.pos;
      } else {
        free(block);
      }
      // A full block may leave output inside zstd: go on while input is left or the block filled up.
      bool more = in.pos < in.size || out.pos == out.size;
      if (!more || produced >= kOutputCap) break;
    }
    consumed_ = in.pos;
  }

  void OnOK() override {
    Napi::Env env = Env();
    decoder_->busy = false;
    if (decoder_->freed) FreeDecoder(decoder_);
    if (!error_.empty()) {
      Napi::Error e = Napi::Error::New(env, "zstd: " + error_);
      e.Value().Set("code", Napi::String::New(env, "EZSTD"));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Array chunks = Napi::Array::New(env, blocks_.size());
    for (size_t i = 0; i < blocks_.size(); i++) {
      // The buffer takes the malloc'd block; it is freed with the buffer.
      chunks.Set(i, Napi::Buffer<char>::New(env, blocks_[i], sizes_[i], [](Napi::Env, char* data) { free(data); }));
      blocks_[i] = nullptr;
    }
    blocks_.clear();
    Napi::Object result = Napi::Object::New(env);
    result.Set("chunks", chunks);
    result.Set("consumed", Napi::Number::New(env, static_cast<double>(consumed_)));
    result.Set("hint", Napi::Number::New(env, static_cast<double>(hint_)));
    deferred_.Resolve(result);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Decoder* decoder_;
  Napi::Reference<Napi::External<Decoder>> handle_;
  Napi::Reference<Napi::Buffer<uint8_t>> input_ref_;
  const uint8_t* input_;
  size_t input_size_;
  std::vector<char*> blocks_;
  std::vector<size_t> sizes_;
  size_t consumed_ = 0;
  size_t hint_ = 1;  // no progress yet: not at a frame's end
  std::string error_;
};

Napi::Value ZstdLoad(const Napi::CallbackInfo& info) {
  if (Loaded()) return info.Env().Undefined();
  return Napi::String::New(info.Env(), load_error);
}

Napi::Value ZstdDecoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Loaded()) {
    Napi::Error::New(env, "zstd: " + load_error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Decoder* d = new Decoder();
  d->stream = api.createDStream();
  if (d->stream == nullptr || api.isError(api.initDStream(d->stream))) {
    FreeDecoder(d);
    delete d;
    Napi::Error::New(env, "zstd: cannot create a decompression stream").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::External<Decoder>::New(env, d, FinalizeDecoder);
}

Napi::Value ZstdDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Decoder* d = DecoderOf(info, "zstdDecode");
  if (d == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsBuffer()) {
    Napi::TypeError::New(env, "zstdDecode: input must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (d->busy || d->freed || d->stream == nullptr) {
    Napi::Error::New(env, d->busy ? "zstdDecode: decoder is busy (one call at a time)" : "zstdDecode: decoder was freed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  DecodeWorker* w = new DecodeWorker(env, info[0].As<Napi::External<Decoder>>(), info[1].As<Napi::Buffer<uint8_t>>());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// Frees the decoder's memory now (or when its running call ends); later calls fail.
Napi::Value ZstdFree(const Napi::CallbackInfo& info) {
  Decoder* d = DecoderOf(info, "zstdFree");
  if (d == nullptr) return info.Env().Undefined();
  d->freed = true;
  if (!d->busy) FreeDecoder(d);
  return info.Env().Undefined();
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("zstdLoad", Napi::Function::New(env, ZstdLoad, "zstdLoad"));
  exports.Set("zstdDecoder", Napi::Function::New(env, ZstdDecoder, "zstdDecoder"));
  exports.Set("zstdDecode", Napi::Function::New(env, ZstdDecode, "zstdDecode"));
  exports.Set("zstdFree", Napi::Function::New(env, ZstdFree, "zstdFree"));
});

}  // namespace

{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": ["<!@(ls -1 src/*.cc)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "BERTH_NATIVE_VERSION=\"0.1.0\""],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fno-exceptions"],
      "libraries": ["-ldl"]
    }
  ]
}

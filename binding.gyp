{
  # with_tensorrt: 1 builds the real TensorRT backend into inspectd_native (default: auto-detect NvInfer.h under
  #   TENSORRT_ROOT, /usr/include/x86_64-linux-gnu, /usr/include/aarch64-linux-gnu, /usr/include).
  # with_trt_standin: 1 (default) also builds inspectd_trt_standin: the same backend sources compiled against the
  #   stand-in headers and implementation in native/trt_standin, so CI compiles and tests the backend with no GPU.
  # with_test_native: 1 (default) also builds inspectd_test_native: test-only helpers (the sd_notify datagram receiver).
  # Override: npx node-gyp rebuild -- -Dwith_tensorrt=0 -Dwith_trt_standin=0 -Dwith_test_native=0
  "variables": {
    "with_tensorrt%": "<!(node native/find_tensorrt.cjs found)",
    "with_trt_standin%": "1",
    "with_test_native%": "1",
    "tensorrt_include%": "<!(node native/find_tensorrt.cjs include)",
    "tensorrt_lib%": "<!(node native/find_tensorrt.cjs lib)",
    "cuda_include%": "<!(node native/find_tensorrt.cjs cuda_include)",
    "cuda_lib%": "<!(node native/find_tensorrt.cjs cuda_lib)",
    "nvcc%": "<!(node native/find_tensorrt.cjs nvcc)",
    # CUDA letterbox kernel (native/preprocess_cuda.cu): only with TensorRT and nvcc; never in CI.
    "with_cuda_preprocess%": "<!(node native/find_tensorrt.cjs cuda_preprocess)"
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
    "dependencies": ["<!(node -p \"require('node-addon-api').gyp\")"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags_cc": ["-std=c++17", "-O3", "-fvisibility=hidden"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
    }
  },
  "targets": [
    {
      "target_name": "inspectd_native",
      "sources": [
        "native/addon.cc",
        "native/preprocess.cc",
        "native/sd_notify.cc",
        "native/trt_engine.cc"
      ],
      "conditions": [
        ["with_tensorrt==1", {
          "sources": ["native/trt_backend.cc"],
          "defines": ["INSPECTD_WITH_TENSORRT=1"],
          "include_dirs": ["<(tensorrt_include)", "<(cuda_include)"],
          "libraries": [
            "-L<(tensorrt_lib)", "-L<(cuda_lib)", "-lnvinfer", "-lcudart",
            "-Wl,-rpath,<(tensorrt_lib)", "-Wl,-rpath,<(cuda_lib)"
          ]
        }],
        ["with_tensorrt==1 and with_cuda_preprocess==1", {
          "sources": ["native/preprocess_cuda.cu"],
          "defines": ["INSPECTD_WITH_CUDA_PREPROCESS=1"],
          "rules": [{
            "rule_name": "nvcc",
            "extension": "cu",
            "inputs": ["<(RULE_INPUT_PATH)"],
            "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
            "action": [
              "<(nvcc)", "-std=c++17", "-O3", "-Xcompiler", "-fPIC", "-I<(cuda_include)", "-Inative",
              "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
            ],
            "message": "nvcc <(RULE_INPUT_PATH)",
            "process_outputs_as_sources": 1
          }]
        }]
      ]
    }
  ],
  "conditions": [
    ["with_test_native==1", {
      "targets": [
        {
          # Test-only helpers (the sd_notify datagram receiver), kept out of the production addon.
          "target_name": "inspectd_test_native",
          "sources": ["native/test_addon.cc", "native/dgram_receiver.cc", "native/sd_notify.cc"]
        }
      ]
    }],
    ["with_trt_standin==1", {
      "targets": [
        {
          "target_name": "inspectd_trt_standin",
          "sources": [
            "native/addon.cc",
            "native/preprocess.cc",
            "native/sd_notify.cc",
            "native/trt_engine.cc",
            "native/trt_backend.cc",
            "native/trt_standin/standin.cc",
            "native/trt_standin/standin_js.cc"
          ],
          "defines": ["INSPECTD_WITH_TENSORRT=1", "INSPECTD_TRT_STANDIN=1"],
          # Stand-in headers first so <NvInfer.h> / <cuda_runtime_api.h> resolve to them, never to a real install.
          "include_dirs": ["native/trt_standin"]
        }
      ]
    }]
  ]
}

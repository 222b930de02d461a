{
  # with_tensorrt: 1 builds the real TensorRT backend into inspectd_native (default: auto-detect NvInfer.h under
  #   TENSORRT_ROOT, /usr/include/x86_64-linux-gnu, /usr/include/aarch64-linux-gnu, /usr/include).
  # with_cuda: 1 when the CUDA toolkit is there (nvcc, cuda_runtime_api.h, libcudart; CUDA_HOME, CUDA_PATH, nvcc on
  #   PATH or /usr/local/cuda; INSPECTD_CUDA=0 forces 0). It compiles the CUDA letterbox kernel
  #   (native/preprocess_cuda.cu) for the archs `node native/find_tensorrt.cjs summary` prints, into
  #   inspectd_cuda_check (the GPU comparison test and scripts/gpu-check.sh) and, with TensorRT, into inspectd_native.
  # with_trt_standin: 1 (default) also builds inspectd_trt_standin: the same backend sources compiled against the
  #   stand-in headers and implementation in native/trt_standin, so CI compiles and tests the backend with no GPU.
  # with_test_native: 1 (default) also builds inspectd_test_native: test-only helpers (the sd_notify datagram receiver).
  # Override: npx node-gyp rebuild -- -Dwith_tensorrt=0 -Dwith_cuda=0 -Dwith_trt_standin=0 -Dwith_test_native=0
  "variables": {
    "with_tensorrt%": "<!(node native/find_tensorrt.cjs found)",
    "with_cuda%": "<!(node native/find_tensorrt.cjs cuda)",
    "with_trt_standin%": "1",
    "with_test_native%": "1",
    "tensorrt_include%": "<!(node native/find_tensorrt.cjs include)",
    "tensorrt_lib%": "<!(node native/find_tensorrt.cjs lib)",
    "cuda_include%": "<!(node native/find_tensorrt.cjs cuda_include)",
    "cuda_lib%": "<!(node native/find_tensorrt.cjs cuda_lib)",
    "nvcc%": "<!(node native/find_tensorrt.cjs nvcc)",
    # -gencode flags: SASS for sm_72 / sm_87 / sm_90 where this nvcc supports them, PTX for the lowest arch it knows.
    "cuda_gencode%": ["<!@(node native/find_tensorrt.cjs cuda_gencode)"]
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
    },
    "conditions": [
      ["with_cuda==1", {
        # .cu sources go through nvcc into an object the target links.
        "rules": [{
          "rule_name": "nvcc",
          "extension": "cu",
          # cuda_check_host.cu includes preprocess_cuda.cu: a kernel edit rebuilds both objects.
          "inputs": ["<(RULE_INPUT_PATH)", "native/preprocess_cuda.cu", "native/preprocess_cuda.h"],
          "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
          "action": [
            "<(nvcc)", "-std=c++17", "-O3", "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden",
            "-Wno-deprecated-gpu-targets", "<@(cuda_gencode)", "-I<(cuda_include)", "-Inative",
            "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
          ],
          "message": "nvcc <(RULE_INPUT_PATH)",
          "process_outputs_as_sources": 1
        }]
      }]
    ]
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
        ["with_tensorrt==1 and with_cuda==1", {
          # The engine's input is letterboxed on the GPU (trt_backend.cc RunFrame); CPU letterbox otherwise.
          "sources": ["native/cuda_letterbox.cc", "native/preprocess_cuda.cu"],
          "defines": ["INSPECTD_WITH_CUDA_PREPROCESS=1"]
        }]
      ]
    }
  ],
  "conditions": [
    ["with_cuda==1", {
      "targets": [
        {
          # Tests and scripts/gpu-check.sh only: the CUDA letterbox kernel on its own (cuda_check_host.cu includes
          # preprocess_cuda.cu), to compare with the CPU letterbox and time both. Loads without a GPU and says why.
          "target_name": "inspectd_cuda_check",
          "sources": [
            "native/cuda_check.cc", "native/cuda_check_host.cu", "native/cuda_letterbox.cc", "native/preprocess.cc"
          ],
          "include_dirs": ["<(cuda_include)"],
          "libraries": ["-L<(cuda_lib)", "-lcudart", "-Wl,-rpath,<(cuda_lib)"]
        }
      ]
    }],
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
            "native/cuda_letterbox.cc",
            "native/trt_standin/standin.cc",
            "native/trt_standin/standin_js.cc",
            "native/trt_standin/letterbox_kernel.cc"
          ],
          # The CUDA letterbox path too, with letterbox_kernel.cc standing in for the kernel.
          "defines": ["INSPECTD_WITH_TENSORRT=1", "INSPECTD_TRT_STANDIN=1", "INSPECTD_WITH_CUDA_PREPROCESS=1"],
          # Stand-in headers first so <NvInfer.h> / <cuda_runtime_api.h> resolve to them, never to a real install.
          "include_dirs": ["native/trt_standin"]
        }
      ]
    }]
  ]
}

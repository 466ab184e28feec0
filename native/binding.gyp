{
  "targets": [
    {
      "target_name": "secsess_aead",
      "sources": ["src/aead.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS=='linux'", { "ldflags": ["-Wl,-z,now"] }],
        ["OS=='mac'", { "xcode_settings": { "OTHER_LDFLAGS": ["-Wl,-bind_at_load"] } }]
      ]
    }
  ]
}

# The dsmip6 native I/O addon (native/*.c, plain N-API): TUN, AF_PACKET tap, raw IPv6,
# UDP over IPv4, batched; and ESP seal/open over the OpenSSL that node itself exports
# (native/crypto.c). Built by `npm ci` (npm runs `node-gyp rebuild` for the package).
{
  "targets": [
    {
      "target_name": "dsmip6_io",
      "sources": [
        "native/addon.c",
        "native/crypto.c",
        "native/handle.c",
        "native/netns.c",
        "native/packet.c",
        "native/raw6.c",
        "native/tun.c",
        "native/tungro.c",
        "native/udp4.c",
        "native/util.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}

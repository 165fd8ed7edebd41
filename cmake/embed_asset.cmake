# embed_asset.cmake - turns one file into C source at build time, so the binary
# carries it and the checked-in file stays the only copy (docs/openapi.json,
# src/api/assets/*). Run as: cmake -DIN=file -DOUT=file.c -DSYM=name -P embed_asset.cmake
# Writes `const char SYM[]` (the bytes plus a NUL) and `const size_t SYM_len`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by cmake/embed_asset.cmake: do not edit. */\n"
  "#include <stddef.h>\n"
  "const char ${SYM}[] = {\n${bytes}0x00};\n"
  "const size_t ${SYM}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")

# embed_asset.cmake - turn a static asset into a C array at build time, so the
# binary carries it and needs no asset folder: cmake -DIN=file -DOUT=file.c
# -DNAME=symbol -P embed_asset.cmake defines `const unsigned char NAME[]`
# (NUL-terminated) and `const size_t NAME_len` (without the NUL).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n" bytes "${bytes}")
get_filename_component(base ${IN} NAME)
file(WRITE ${OUT} "/* generated from ${base} by scripts/embed_asset.cmake: do not edit */\n"
  "#include <stddef.h>\nconst unsigned char ${NAME}[] = {\n${bytes}0x00};\n"
  "const size_t ${NAME}_len = sizeof ${NAME} - 1;\n")

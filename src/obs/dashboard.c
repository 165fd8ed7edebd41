/*
 * dashboard.c - the dashboard page. Its source is src/obs/dashboard.html (plain
 * HTML, CSS and JavaScript, no external resources); the build compiles it into
 * the dashboard_page array (cmake/embed_asset.cmake), so the binary needs no
 * asset files.
 */
#include "obs/dashboard.h"

extern const char dashboard_page[];
extern const size_t dashboard_page_len;

const char *dashboard_html(size_t *len)
{
    *len = dashboard_page_len;
    return dashboard_page;
}

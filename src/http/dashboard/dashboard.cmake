# The dashboard page (docs/serve.md, "Dashboard") is compiled into the library:
# index.html, style.css and app.js are joined into one page and turned into a
# C array by embed.cmake (a CMake script, so the build needs nothing but
# cmake), and the page's Content-Security-Policy is computed from the hashes
# of its inline script and style at the same time. Included from
# CMakeLists.txt after sluice_lib is defined.
set(SLUICE_DASHBOARD_DIR ${CMAKE_CURRENT_LIST_DIR})
set(SLUICE_DASHBOARD_C ${CMAKE_CURRENT_BINARY_DIR}/generated/dashboard_page.c)
add_custom_command(
  OUTPUT ${SLUICE_DASHBOARD_C}
  COMMAND ${CMAKE_COMMAND} -DDASH_DIR=${SLUICE_DASHBOARD_DIR} -DOUT=${SLUICE_DASHBOARD_C}
          -P ${SLUICE_DASHBOARD_DIR}/embed.cmake
  DEPENDS ${SLUICE_DASHBOARD_DIR}/index.html ${SLUICE_DASHBOARD_DIR}/style.css
          ${SLUICE_DASHBOARD_DIR}/app.js ${SLUICE_DASHBOARD_DIR}/embed.cmake
  COMMENT "Embedding the dashboard page"
  VERBATIM)
target_sources(sluice_lib PRIVATE ${SLUICE_DASHBOARD_C})

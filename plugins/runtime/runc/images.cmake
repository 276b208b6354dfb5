# The runc plugin's image store (images.h): included by this folder's
# CMakeLists.txt, which builds RUNC_IMAGE_SOURCES (reading the store, root
# filesystems) into the plugin.  Writing content (import, pull, hashing,
# unpacking: RUNC_IMAGE_FETCH_SOURCES, which need libarchive, libcurl and
# GnuTLS) is the executable kraal-runc-image's, which the plugin spawns and
# finds next to itself, so the agent maps none of those libraries.  Also
# adds the store's unit tests, which build both directly.
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)

set(RUNC_IMAGE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/images.c
  ${CMAKE_CURRENT_LIST_DIR}/image_blob.c
  ${CMAKE_CURRENT_LIST_DIR}/image_ref.c
  ${CMAKE_CURRENT_LIST_DIR}/image_spawn.c
  ${CMAKE_CURRENT_LIST_DIR}/rootfs.c)
set(RUNC_IMAGE_FETCH_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/images.c
  ${CMAKE_CURRENT_LIST_DIR}/image_blob.c
  ${CMAKE_CURRENT_LIST_DIR}/image_ref.c
  ${CMAKE_CURRENT_LIST_DIR}/rootfs.c
  ${CMAKE_CURRENT_LIST_DIR}/image_ingest.c
  ${CMAKE_CURRENT_LIST_DIR}/image_import.c
  ${CMAKE_CURRENT_LIST_DIR}/image_unpack.c
  ${CMAKE_CURRENT_LIST_DIR}/image_pull.c)
set(RUNC_IMAGE_FETCH_LIBS PkgConfig::LIBARCHIVE PkgConfig::GNUTLS PkgConfig::CURL)

add_executable(kraal-runc-image ${CMAKE_CURRENT_LIST_DIR}/image_helper.c
  ${RUNC_IMAGE_FETCH_SOURCES})
target_link_libraries(kraal-runc-image PRIVATE kraal ${RUNC_IMAGE_FETCH_LIBS})
target_include_directories(kraal-runc-image PRIVATE ${CMAKE_CURRENT_LIST_DIR})
set_target_properties(kraal-runc-image PROPERTIES RUNTIME_OUTPUT_DIRECTORY
  ${KRAAL_PLUGIN_OUTPUT_DIR})
install(TARGETS kraal-runc-image RUNTIME DESTINATION ${KRAAL_PLUGIN_INSTALL_DIR})

if(KRAAL_TESTS)
  # root: whiteouts are device nodes, opaque dirs trusted.* xattrs, rootfs a mount
  kr_add_unit_test(test_runc_images
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/test_images.c ${RUNC_IMAGE_FETCH_SOURCES}
    LIBS ${RUNC_IMAGE_FETCH_LIBS} TIMEOUT 300)
  set_tests_properties(test_runc_images PROPERTIES SKIP_RETURN_CODE 77)
  target_include_directories(test_runc_images PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(test_runc_images PRIVATE
    KRAAL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  kr_add_unit_test(test_runc_image_ref
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/test_image_ref.c ${RUNC_IMAGE_FETCH_SOURCES}
    LIBS ${RUNC_IMAGE_FETCH_LIBS})
  target_include_directories(test_runc_image_ref PRIVATE ${CMAKE_CURRENT_LIST_DIR})
endif()

if(KRAAL_TESTS)
  # Pull from Debian's docker-registry on 127.0.0.1 (skipped, 77, without
  # docker-registry or skopeo); the script drives test_runc_images_pull.
  add_executable(test_runc_images_pull ${CMAKE_CURRENT_LIST_DIR}/tests/test_images_pull.c
    ${RUNC_IMAGE_FETCH_SOURCES})
  target_link_libraries(test_runc_images_pull PRIVATE kraal PkgConfig::CMOCKA
    ${RUNC_IMAGE_FETCH_LIBS})
  target_include_directories(test_runc_images_pull PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_test(NAME test_runc_images_pull
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tests/test_images_pull.sh ${PROJECT_SOURCE_DIR}
            $<TARGET_FILE:test_runc_images_pull> $<TARGET_FILE:kraal-runc-image>)
  set_tests_properties(test_runc_images_pull PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
    LABELS "integration;images")
endif()

if(KRAAL_TESTS)
  # `kraal image` loading this plugin in-process (needs root; 77 otherwise).
  add_test(NAME test_image_cmd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tests/test_image_cmd.sh ${PROJECT_SOURCE_DIR}
            $<TARGET_FILE:kraal-bin> ${KRAAL_PLUGIN_OUTPUT_DIR})
  set_tests_properties(test_image_cmd PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
    LABELS "integration;images" RESOURCE_LOCK host-containers-b)
endif()

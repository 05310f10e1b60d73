# tandem_set_warnings(target): the project's one place for warning flags.
function(tandem_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

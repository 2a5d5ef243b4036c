int zoo_stub_function(void) { return 42; }

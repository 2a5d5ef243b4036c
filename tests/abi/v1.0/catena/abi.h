/* Catena ABI v1 — everything a backend or function plugin compiles against. */
#ifndef CATENA_ABI_H
#define CATENA_ABI_H
#include "ct_base.h"
#include "ct_tensor.h"
#include "ct_op.h"
#include "ct_backend.h"
#include "ct_function.h"
#include "ct_plugin.h"
#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* rampart — umbrella header: include this to get the whole public API. */
#ifndef RAMPART_H
#define RAMPART_H

#include <rampart/common.h>
#include <rampart/crypto.h>
#include <rampart/selftest.h>
#include <rampart/vault.h>
#include <rampart/service.h>

#endif /* RAMPART_H */

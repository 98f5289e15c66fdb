/*
 * vm-init: the minimal init the agent performs when it is PID 1 of a microVM
 * (see vm-init.c). A no-op anywhere else.
 */
#ifndef AIRLOCK_VM_INIT_H
#define AIRLOCK_VM_INIT_H

void vm_init(void);

#endif

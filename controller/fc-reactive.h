/*
 * Copyright (c) 2026 The ovs-flexmap authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
#ifndef FLEXMAP_CONTROLLER_FC_REACTIVE_H
#define FLEXMAP_CONTROLLER_FC_REACTIVE_H 1

/* The reactive mode (--mode=reactive, the paper's prototype): a rule per
 * connection, installed from packet-ins.  See fc-reactive.c. */

struct fc_ctx;
struct fc_switch;
struct ofp_header;

void fc_handle_packet_in(struct fc_ctx *, struct fc_switch *,
                         const struct ofp_header *);

#endif /* fc-reactive.h */

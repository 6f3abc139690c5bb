#include "tsl_schedule.h"

#include <math.h>

double tsl_schedule_factor(const tsl_schedule *s, uint64_t step) {
    double base = s->batch_scale;
    if (step < s->warmup_steps)
        return base * (double)step / (double)s->warmup_steps;
    double decay_steps = (double)(s->total_steps > s->warmup_steps ? s->total_steps - s->warmup_steps : 1);
    double q = 0.5 * (1.0 + cos(M_PI * (double)(step - s->warmup_steps) / decay_steps));
    double end = base * 0.001;
    return base * q + end * (1.0 - q);
}

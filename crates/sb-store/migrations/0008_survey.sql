-- Version 8: the satisfaction survey. When the patient began to hear it (the agent had left:
-- the talk ends there), and the score they keyed (1 very dissatisfied to 5 very satisfied;
-- NULL: none in time); the interval figures count surveys asked, answered and the scores'
-- sum.
ALTER TABLE calls ADD COLUMN survey_ms INTEGER;
ALTER TABLE calls ADD COLUMN survey_score INTEGER;
ALTER TABLE interval_stats ADD COLUMN surveys INTEGER NOT NULL DEFAULT 0;
ALTER TABLE interval_stats ADD COLUMN survey_answers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE interval_stats ADD COLUMN survey_sum INTEGER NOT NULL DEFAULT 0;

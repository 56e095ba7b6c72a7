DROP VIEW IF EXISTS budget_status;
DROP TABLE llm_budget_deliveries;
DROP TABLE llm_budget_alerts;
DROP TABLE llm_budgets;

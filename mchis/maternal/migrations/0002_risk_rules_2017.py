"""The 2017 risk rule table (孕产妇妊娠风险评估表, 附件2 of 孕产妇妊娠风险评估与管理工作规范,
国卫办妇幼发〔2017〕35号), with height ≤145 cm from the screening table (筛查表, 附件1).

Codes follow the table's numbering (Y = yellow, O = orange, R = red, P = purple; items the table
lists together are split with a letter, one condition each). Green is what is left when no rule
fires. Frozen here on purpose: a later national table or a deployment's own is installed as a
new version (`mchis.maternal.risk.risk_table_install`), never by editing this one, because each
grading names the version it was made with.
"""

from datetime import date

from django.db import migrations

VERSION = "2017"


def fact(name, op, value):
    return {"fact": name, "op": op, "value": value}


def between(name, lo, hi):
    return {"fact": name, "op": "between", "min": lo, "max": hi}


def cond(code):
    return {"condition": code}


def every(*parts):
    return {"all": list(parts)}


# (code, colour, section, Chinese label, English label, predicate)
RULES = [
    # --- yellow: basic situation --------------------------------------------------------------
    ("Y1.1a", "yellow", "basic", "年龄≥35岁", "Age 35 years or older", fact("age", ">=", 35)),
    ("Y1.1b", "yellow", "basic", "年龄≤18岁", "Age 18 years or younger", fact("age", "<=", 18)),
    ("Y1.2a", "yellow", "basic", "BMI>25", "BMI above 25", fact("bmi", ">", 25)),
    ("Y1.2b", "yellow", "basic", "BMI<18.5", "BMI below 18.5", fact("bmi", "<", 18.5)),
    ("Y1.3", "yellow", "basic", "身高≤145cm", "Height 145 cm or less", fact("height_cm", "<=", 145)),
    ("Y1.4", "yellow", "basic", "生殖道畸形", "Malformation of the genital tract", cond("genital_tract_malformation")),
    ("Y1.5", "yellow", "basic", "骨盆狭小", "Contracted pelvis", cond("contracted_pelvis")),
    (
        "Y1.6a",
        "yellow",
        "history",
        "不良孕产史：各类流产≥3次",
        "Three or more previous abortions of any kind",
        fact("prior_abortions", ">=", 3),
    ),
    ("Y1.6b", "yellow", "history", "不良孕产史：早产", "Previous preterm birth", fact("prior_preterm_births", ">=", 1)),
    (
        "Y1.6c",
        "yellow",
        "history",
        "不良孕产史：围产儿死亡",
        "Previous perinatal death",
        fact("prior_perinatal_deaths", ">=", 1),
    ),
    (
        "Y1.6d",
        "yellow",
        "history",
        "不良孕产史：出生缺陷",
        "Previous birth with a birth defect",
        fact("prior_birth_defects", ">=", 1),
    ),
    (
        "Y1.6e",
        "yellow",
        "history",
        "不良孕产史：异位妊娠",
        "Previous ectopic pregnancy",
        fact("prior_ectopic", ">=", 1),
    ),
    (
        "Y1.6f",
        "yellow",
        "history",
        "不良孕产史：滋养细胞疾病",
        "Previous trophoblastic disease",
        cond("history_trophoblastic_disease"),
    ),
    ("Y1.7", "yellow", "history", "瘢痕子宫", "Scarred uterus", fact("uterine_operations", ">=", 1)),
    (
        "Y1.8",
        "yellow",
        "basic",
        "子宫肌瘤或卵巢囊肿≥5cm",
        "Uterine myoma or ovarian cyst of 5 cm or more",
        cond("myoma_or_ovarian_cyst_5cm"),
    ),
    ("Y1.9", "yellow", "history", "盆腔手术史", "Previous pelvic surgery", cond("pelvic_surgery_history")),
    ("Y1.10", "yellow", "basic", "辅助生殖妊娠", "Pregnancy by assisted reproduction", cond("assisted_reproduction")),
    # --- yellow: diseases in pregnancy -----------------------------------------------------------
    (
        "Y2.1a",
        "yellow",
        "disease",
        "先天性心脏病（不伴有肺动脉高压的房缺、室缺、动脉导管未闭；法洛四联症修补术后无残余心脏结构异常等），无需药物治疗、心功能正常",
        "Congenital heart disease without pulmonary hypertension (ASD, VSD, PDA; repaired tetralogy of Fallot "
        "without residual lesions), no drugs needed, normal cardiac function",
        cond("congenital_heart_disease_simple"),
    ),
    (
        "Y2.1b",
        "yellow",
        "disease",
        "心肌炎后遗症（无需药物治疗、心功能正常）",
        "Sequelae of myocarditis, no drugs needed, normal cardiac function",
        cond("myocarditis_sequelae"),
    ),
    (
        "Y2.1c",
        "yellow",
        "disease",
        "心律失常（无需药物治疗、心功能正常）",
        "Arrhythmia, no drugs needed, normal cardiac function",
        cond("arrhythmia_no_drugs"),
    ),
    (
        "Y2.1d",
        "yellow",
        "disease",
        "无合并症的轻度肺动脉狭窄和二尖瓣脱垂",
        "Uncomplicated mild pulmonary stenosis or mitral valve prolapse",
        cond("mild_pulmonary_stenosis_or_mvp"),
    ),
    (
        "Y2.2",
        "yellow",
        "disease",
        "呼吸系统疾病：经呼吸内科诊治无需药物治疗、肺功能正常",
        "Respiratory disease needing no drugs, with normal lung function",
        cond("respiratory_disease_no_drugs"),
    ),
    (
        "Y2.3",
        "yellow",
        "disease",
        "肝炎病毒携带（表面抗原阳性、肝功能正常）",
        "Hepatitis B carrier (HBsAg positive, normal liver function)",
        fact("hbsag", "==", "positive"),
    ),
    (
        "Y2.4",
        "yellow",
        "disease",
        "肾脏疾病（目前病情稳定肾功能正常）",
        "Kidney disease, stable, with normal renal function",
        cond("kidney_disease_stable"),
    ),
    (
        "Y2.5",
        "yellow",
        "disease",
        "无需药物治疗的糖尿病、甲状腺疾病、垂体泌乳素瘤等",
        "Diabetes, thyroid disease or pituitary prolactinoma not needing drugs",
        cond("endocrine_disease_no_drugs"),
    ),
    (
        "Y2.6a",
        "yellow",
        "disease",
        "妊娠合并血小板减少（PLT 50–100×10⁹/L）但无出血倾向",
        "Thrombocytopenia (platelets 50–100 ×10⁹/L) without bleeding tendency",
        between("platelets", 50, 100),
    ),
    (
        "Y2.6b",
        "yellow",
        "disease",
        "妊娠合并贫血（Hb 60–110 g/L）",
        "Anaemia (Hb 60–110 g/L)",
        between("hb_g_l", 60, 110),
    ),
    (
        "Y2.7",
        "yellow",
        "disease",
        "神经系统疾病：癫痫（单纯部分性发作和复杂部分性发作），重症肌无力（眼肌型）等",
        "Epilepsy (simple or complex partial seizures) or ocular myasthenia gravis",
        cond("neurological_disease_mild"),
    ),
    (
        "Y2.8",
        "yellow",
        "disease",
        "免疫系统疾病：无需药物治疗（如系统性红斑狼疮、IgA肾病、类风湿性关节炎、干燥综合征、未分化结缔组织病等）",
        "Immune disease not needing drugs (SLE, IgA nephropathy, rheumatoid arthritis, Sjögren's syndrome, "
        "undifferentiated connective tissue disease)",
        cond("immune_disease_no_drugs"),
    ),
    (
        "Y2.9",
        "yellow",
        "disease",
        "尖锐湿疣、淋病等性传播疾病",
        "Condyloma acuminatum, gonorrhoea or another sexually transmitted disease",
        cond("sexually_transmitted_disease_other"),
    ),
    ("Y2.10", "yellow", "disease", "吸毒史", "History of drug use", cond("drug_use_history")),
    ("Y2.11", "yellow", "disease", "其他（一般风险）", "Other condition of general risk", cond("other_general_risk")),
    # --- yellow: complications of pregnancy -------------------------------------------------------
    ("Y3.1", "yellow", "complication", "双胎妊娠", "Twin pregnancy", fact("fetuses", "==", 2)),
    ("Y3.2", "yellow", "complication", "先兆早产", "Threatened preterm labour", cond("threatened_preterm_labour")),
    (
        "Y3.3",
        "yellow",
        "complication",
        "胎儿宫内生长受限",
        "Fetal growth restriction",
        cond("fetal_growth_restriction"),
    ),
    ("Y3.4", "yellow", "complication", "巨大儿", "Suspected macrosomia", cond("macrosomia")),
    (
        "Y3.5",
        "yellow",
        "complication",
        "妊娠期高血压疾病（除外红、橙色）",
        "Hypertensive disorder of pregnancy (other than the orange and red ones)",
        cond("hypertensive_disorder"),
    ),
    (
        "Y3.6",
        "yellow",
        "complication",
        "妊娠期肝内胆汁淤积症",
        "Intrahepatic cholestasis of pregnancy",
        cond("intrahepatic_cholestasis"),
    ),
    (
        "Y3.7",
        "yellow",
        "complication",
        "胎膜早破",
        "Premature rupture of membranes",
        cond("premature_rupture_of_membranes"),
    ),
    ("Y3.8", "yellow", "complication", "羊水过少", "Oligohydramnios", cond("oligohydramnios")),
    ("Y3.9", "yellow", "complication", "羊水过多", "Polyhydramnios", cond("polyhydramnios")),
    (
        "Y3.10",
        "yellow",
        "complication",
        "≥36周胎位不正",
        "Malpresentation at 36 weeks or later",
        every(fact("gestational_weeks", ">=", 36), fact("presentation", "in", ["breech", "transverse", "oblique"])),
    ),
    ("Y3.11", "yellow", "complication", "低置胎盘", "Low-lying placenta", cond("low_lying_placenta")),
    ("Y3.12", "yellow", "complication", "妊娠剧吐", "Hyperemesis gravidarum", cond("hyperemesis_gravidarum")),
    # --- orange -----------------------------------------------------------------------------------
    ("O1.1", "orange", "basic", "年龄≥40岁", "Age 40 years or older", fact("age", ">=", 40)),
    ("O1.2", "orange", "basic", "BMI≥28", "BMI 28 or above", fact("bmi", ">=", 28)),
    (
        "O2.1a",
        "orange",
        "disease",
        "心功能II级，轻度左心功能障碍或者EF 40%～50%",
        "Cardiac function class II, mild left ventricular dysfunction or ejection fraction 40–50%",
        cond("heart_function_class_2"),
    ),
    (
        "O2.1b",
        "orange",
        "disease",
        "需药物治疗的心肌炎后遗症、心律失常等",
        "Sequelae of myocarditis or arrhythmia needing drugs",
        cond("heart_disease_needing_drugs"),
    ),
    (
        "O2.1c",
        "orange",
        "disease",
        "瓣膜性心脏病（轻度二尖瓣狭窄瓣口>1.5cm²，主动脉瓣狭窄跨瓣压差<50mmHg，无合并症的轻度肺动脉狭窄，二尖瓣脱垂，"
        "二叶式主动脉瓣疾病，Marfan综合征无主动脉扩张）",
        "Valvular heart disease (mild mitral stenosis above 1.5 cm², aortic stenosis gradient below 50 mmHg, "
        "bicuspid aortic valve, Marfan syndrome without aortic dilatation)",
        cond("valvular_heart_disease_mild"),
    ),
    (
        "O2.1d",
        "orange",
        "disease",
        "主动脉疾病（主动脉直径<45mm），主动脉缩窄矫治术后",
        "Aortic disease (diameter below 45 mm), or after repair of coarctation",
        cond("aortic_disease"),
    ),
    (
        "O2.1e",
        "orange",
        "disease",
        "经治疗后稳定的心肌病",
        "Cardiomyopathy stable after treatment",
        cond("cardiomyopathy_stable"),
    ),
    (
        "O2.1f",
        "orange",
        "disease",
        "各种原因的轻度肺动脉高压（<50mmHg）",
        "Mild pulmonary hypertension (below 50 mmHg) of any cause",
        cond("pulmonary_hypertension_mild"),
    ),
    (
        "O2.1g",
        "orange",
        "disease",
        "其他较严重心血管系统疾病",
        "Other more serious cardiovascular disease",
        cond("cardiovascular_disease_other"),
    ),
    ("O2.2a", "orange", "disease", "哮喘", "Asthma", cond("asthma")),
    ("O2.2b", "orange", "disease", "脊柱侧弯", "Scoliosis", cond("scoliosis")),
    (
        "O2.2c",
        "orange",
        "disease",
        "胸廓畸形等伴轻度肺功能不全",
        "Chest deformity with mild pulmonary insufficiency",
        cond("chest_deformity_mild_insufficiency"),
    ),
    (
        "O2.3a",
        "orange",
        "disease",
        "原因不明的肝功能异常",
        "Abnormal liver function of unknown cause",
        cond("liver_dysfunction_unexplained"),
    ),
    (
        "O2.3b",
        "orange",
        "disease",
        "仅需要药物治疗的肝硬化、肠梗阻、消化道出血等",
        "Cirrhosis, bowel obstruction or gastrointestinal bleeding needing drugs only",
        cond("digestive_disease_drugs_only"),
    ),
    (
        "O2.4",
        "orange",
        "disease",
        "慢性肾脏疾病伴肾功能不全代偿期（肌酐超过正常值上限）",
        "Chronic kidney disease with compensated renal insufficiency (creatinine above the upper limit)",
        cond("chronic_kidney_disease_compensated"),
    ),
    (
        "O2.5a",
        "orange",
        "disease",
        "需药物治疗的糖尿病、甲状腺疾病、垂体泌乳素瘤",
        "Diabetes, thyroid disease or pituitary prolactinoma needing drugs",
        cond("endocrine_disease_drugs"),
    ),
    (
        "O2.5b",
        "orange",
        "disease",
        "肾性尿崩症（尿量超过4000ml/日）等",
        "Nephrogenic diabetes insipidus (more than 4000 ml of urine a day)",
        cond("nephrogenic_diabetes_insipidus"),
    ),
    (
        "O2.6a",
        "orange",
        "disease",
        "血小板减少（PLT 30–50×10⁹/L）",
        "Thrombocytopenia (platelets 30 to below 50 ×10⁹/L)",
        every(fact("platelets", ">=", 30), fact("platelets", "<", 50)),
    ),
    (
        "O2.6b",
        "orange",
        "disease",
        "重度贫血（Hb 40–60 g/L）",
        "Severe anaemia (Hb above 40 and below 60 g/L)",
        every(fact("hb_g_l", ">", 40), fact("hb_g_l", "<", 60)),
    ),
    (
        "O2.6c",
        "orange",
        "disease",
        "凝血功能障碍无出血倾向",
        "Coagulation disorder without bleeding tendency",
        cond("coagulopathy_without_bleeding"),
    ),
    (
        "O2.6d",
        "orange",
        "disease",
        "易栓症（如抗凝血酶缺陷症、蛋白C缺陷症、蛋白S缺陷症、抗磷脂综合征、肾病综合征等）",
        "Thrombophilia (antithrombin, protein C or protein S deficiency, antiphospholipid syndrome, nephrotic "
        "syndrome)",
        cond("thrombophilia"),
    ),
    (
        "O2.7",
        "orange",
        "disease",
        "免疫系统疾病：应用小剂量激素（如强的松5–10mg/天）6月以上，无临床活动表现",
        "Immune disease on low-dose steroids (prednisone 5–10 mg a day) for more than 6 months, without activity",
        cond("immune_disease_low_dose_steroids"),
    ),
    (
        "O2.8",
        "orange",
        "disease",
        "恶性肿瘤治疗后无转移无复发",
        "Malignant tumour treated, without metastasis or relapse",
        cond("cancer_treated"),
    ),
    ("O2.9", "orange", "disease", "智力障碍", "Intellectual disability", cond("intellectual_disability")),
    ("O2.10", "orange", "disease", "精神病缓解期", "Mental illness in remission", cond("mental_illness_remission")),
    ("O2.11a", "orange", "disease", "癫痫（失神发作）", "Epilepsy (absence seizures)", cond("epilepsy_absence")),
    (
        "O2.11b",
        "orange",
        "disease",
        "重症肌无力（病变波及四肢骨骼肌和延脑部肌肉）",
        "Myasthenia gravis affecting the limb and bulbar muscles",
        cond("myasthenia_gravis_generalised"),
    ),
    ("O2.12", "orange", "disease", "其他（较高风险）", "Other condition of higher risk", cond("other_higher_risk")),
    ("O3.1", "orange", "complication", "三胎及以上妊娠", "Triplet or higher-order pregnancy", fact("fetuses", ">=", 3)),
    ("O3.2", "orange", "complication", "Rh血型不合", "Rh incompatibility", cond("rh_incompatibility")),
    (
        "O3.3",
        "orange",
        "complication",
        "疤痕子宫（距末次子宫手术间隔<18月）",
        "Scarred uterus less than 18 months after the last uterine operation",
        every(fact("uterine_operations", ">=", 1), fact("months_since_uterine_surgery", "<", 18)),
    ),
    (
        "O3.4",
        "orange",
        "complication",
        "疤痕子宫伴中央性前置胎盘或伴有可疑胎盘植入",
        "Scarred uterus with central placenta praevia or suspected placenta accreta",
        cond("scar_with_praevia_or_accreta"),
    ),
    (
        "O3.5",
        "orange",
        "complication",
        "各类子宫手术史（如剖宫产、宫角妊娠、子宫肌瘤挖除术等）≥2次",
        "Two or more uterine operations (caesarean section, cornual pregnancy, myomectomy…)",
        fact("uterine_operations", ">=", 2),
    ),
    (
        "O3.6",
        "orange",
        "complication",
        "双胎、羊水过多伴发心肺功能减退",
        "Twins or polyhydramnios with cardiopulmonary compromise",
        cond("twins_or_polyhydramnios_cardiopulmonary"),
    ),
    ("O3.7a", "orange", "complication", "重度子痫前期", "Severe pre-eclampsia", cond("severe_preeclampsia")),
    (
        "O3.7b",
        "orange",
        "complication",
        "慢性高血压合并子痫前期",
        "Chronic hypertension with superimposed pre-eclampsia",
        cond("chronic_hypertension_with_preeclampsia"),
    ),
    ("O3.8", "orange", "complication", "原因不明的发热", "Fever of unknown cause", cond("unexplained_fever")),
    (
        "O3.9",
        "orange",
        "complication",
        "产后抑郁症、产褥期中暑、产褥感染等",
        "Postpartum depression, puerperal heat stroke or puerperal infection",
        cond("puerperal_disorder"),
    ),
    # --- red ---------------------------------------------------------------------------------------
    (
        "R1.1a",
        "red",
        "disease",
        "各种原因引起的肺动脉高压（≥50mmHg），如房缺、室缺、动脉导管未闭等",
        "Pulmonary hypertension of 50 mmHg or more of any cause (ASD, VSD, PDA…)",
        cond("pulmonary_hypertension_severe"),
    ),
    (
        "R1.1b",
        "red",
        "disease",
        "复杂先心（法洛四联症、艾森曼格综合征等）和未手术的紫绀型心脏病（SpO2<90%）；Fontan循环术后",
        "Complex congenital heart disease (tetralogy of Fallot, Eisenmenger syndrome), unoperated cyanotic heart "
        "disease (SpO2 below 90%), Fontan circulation",
        cond("complex_congenital_heart_disease"),
    ),
    (
        "R1.1c",
        "red",
        "disease",
        "心脏瓣膜病：瓣膜置换术后，中重度二尖瓣狭窄（瓣口<1.5cm²），主动脉瓣狭窄（跨瓣压差≥50mmHg），马方综合征等",
        "Valvular heart disease: after valve replacement, moderate to severe mitral stenosis (below 1.5 cm²), "
        "aortic stenosis (gradient 50 mmHg or more), Marfan syndrome",
        cond("valvular_heart_disease_severe"),
    ),
    ("R1.1d", "red", "disease", "各类心肌病", "Cardiomyopathy of any kind", cond("cardiomyopathy")),
    ("R1.1e", "red", "disease", "感染性心内膜炎", "Infective endocarditis", cond("infective_endocarditis")),
    ("R1.1f", "red", "disease", "急性心肌炎", "Acute myocarditis", cond("acute_myocarditis")),
    (
        "R1.1g",
        "red",
        "disease",
        "风心病风湿活动期",
        "Rheumatic heart disease with active rheumatism",
        cond("rheumatic_heart_disease_active"),
    ),
    (
        "R1.1h",
        "red",
        "disease",
        "妊娠期高血压性心脏病",
        "Hypertensive heart disease of pregnancy",
        cond("hypertensive_heart_disease"),
    ),
    (
        "R1.1i",
        "red",
        "disease",
        "其他严重心血管系统疾病",
        "Other severe cardiovascular disease",
        cond("cardiovascular_disease_severe_other"),
    ),
    (
        "R1.2",
        "red",
        "disease",
        "呼吸系统疾病：哮喘反复发作、肺纤维化、胸廓或脊柱严重畸形等影响肺功能者",
        "Respiratory disease impairing lung function: recurrent asthma attacks, pulmonary fibrosis, severe chest "
        "or spine deformity",
        cond("respiratory_disease_severe"),
    ),
    (
        "R1.3",
        "red",
        "disease",
        "消化系统疾病：重型肝炎、肝硬化失代偿、严重消化道出血、急性胰腺炎、肠梗阻等影响孕产妇生命的疾病",
        "Life-threatening digestive disease: severe hepatitis, decompensated cirrhosis, severe gastrointestinal "
        "bleeding, acute pancreatitis, bowel obstruction",
        cond("digestive_disease_severe"),
    ),
    (
        "R1.4",
        "red",
        "disease",
        "泌尿系统疾病：急、慢性肾脏疾病伴高血压、肾功能不全（肌酐超过正常值上限的1.5倍）",
        "Acute or chronic kidney disease with hypertension or renal insufficiency (creatinine above 1.5 times the "
        "upper limit)",
        cond("kidney_disease_severe"),
    ),
    (
        "R1.5a",
        "red",
        "disease",
        "糖尿病并发肾病V级、严重心血管病、增生性视网膜病变或玻璃体出血、周围神经病变等",
        "Diabetes with class V nephropathy, severe cardiovascular disease, proliferative retinopathy or vitreous "
        "haemorrhage, or peripheral neuropathy",
        cond("diabetes_complicated"),
    ),
    (
        "R1.5b",
        "red",
        "disease",
        "甲状腺功能亢进并发心脏病、感染、肝功能异常、精神异常等疾病",
        "Hyperthyroidism with heart disease, infection, liver dysfunction or mental disturbance",
        cond("hyperthyroidism_complicated"),
    ),
    (
        "R1.5c",
        "red",
        "disease",
        "甲状腺功能减退引起相应系统功能障碍，基础代谢率小于-50%",
        "Hypothyroidism with organ dysfunction, basal metabolic rate below −50%",
        cond("hypothyroidism_severe"),
    ),
    (
        "R1.5d",
        "red",
        "disease",
        "垂体泌乳素瘤出现视力减退、视野缺损、偏盲等压迫症状",
        "Pituitary prolactinoma with compression symptoms (loss of vision, visual field defects, hemianopia)",
        cond("prolactinoma_with_compression"),
    ),
    (
        "R1.5e",
        "red",
        "disease",
        "尿崩症：中枢性尿崩症伴有明显的多饮、烦渴、多尿症状，或合并有其他垂体功能异常",
        "Central diabetes insipidus with marked polydipsia and polyuria, or with other pituitary dysfunction",
        cond("central_diabetes_insipidus"),
    ),
    ("R1.5f", "red", "disease", "嗜铬细胞瘤等", "Phaeochromocytoma", cond("phaeochromocytoma")),
    ("R1.6a", "red", "disease", "再生障碍性贫血", "Aplastic anaemia", cond("aplastic_anaemia")),
    (
        "R1.6b",
        "red",
        "disease",
        "血小板减少（<30×10⁹/L）",
        "Thrombocytopenia below 30 ×10⁹/L",
        fact("platelets", "<", 30),
    ),
    (
        "R1.6c",
        "red",
        "disease",
        "血小板进行性下降或伴有出血倾向",
        "Platelets falling progressively, or with bleeding tendency",
        cond("thrombocytopenia_with_bleeding"),
    ),
    (
        "R1.6d",
        "red",
        "disease",
        "重度贫血（Hb≤40g/L）",
        "Most severe anaemia (Hb 40 g/L or less)",
        fact("hb_g_l", "<=", 40),
    ),
    ("R1.6e", "red", "disease", "白血病", "Leukaemia", cond("leukaemia")),
    (
        "R1.6f",
        "red",
        "disease",
        "凝血功能障碍伴有出血倾向（如血友病甲、血友病乙、血管性血友病等）",
        "Coagulation disorder with bleeding tendency (haemophilia A or B, von Willebrand disease)",
        cond("coagulopathy_with_bleeding"),
    ),
    (
        "R1.6g",
        "red",
        "disease",
        "血栓栓塞性疾病（如深静脉血栓、颅内静脉窦血栓等）",
        "Thromboembolic disease (deep vein thrombosis, cerebral venous sinus thrombosis)",
        cond("thromboembolic_disease"),
    ),
    (
        "R1.7",
        "red",
        "disease",
        "免疫系统疾病活动期，如系统性红斑狼疮（SLE）、重症IgA肾病、类风湿性关节炎、干燥综合征、未分化结缔组织病等",
        "Active immune disease (SLE, severe IgA nephropathy, rheumatoid arthritis, Sjögren's syndrome, "
        "undifferentiated connective tissue disease)",
        cond("immune_disease_active"),
    ),
    ("R1.8", "red", "disease", "精神病急性期", "Mental illness in the acute phase", cond("mental_illness_acute")),
    (
        "R1.9a",
        "red",
        "disease",
        "妊娠期间发现的恶性肿瘤",
        "Malignant tumour found in pregnancy",
        cond("cancer_in_pregnancy"),
    ),
    (
        "R1.9b",
        "red",
        "disease",
        "恶性肿瘤治疗后复发或发生远处转移",
        "Malignant tumour relapsed or metastasised after treatment",
        cond("cancer_relapsed"),
    ),
    (
        "R1.10a",
        "red",
        "disease",
        "脑血管畸形及手术史",
        "Cerebrovascular malformation, or surgery for one",
        cond("cerebrovascular_malformation"),
    ),
    ("R1.10b", "red", "disease", "癫痫全身发作", "Generalised epileptic seizures", cond("epilepsy_generalised")),
    (
        "R1.10c",
        "red",
        "disease",
        "重症肌无力（病变发展至延脑肌、肢带肌、躯干肌和腹肌）",
        "Myasthenia gravis reaching the bulbar, limb-girdle, trunk and abdominal muscles",
        cond("myasthenia_gravis_severe"),
    ),
    ("R1.11", "red", "disease", "吸毒", "Current drug use", cond("drug_use")),
    (
        "R1.12",
        "red",
        "disease",
        "其他严重内、外科疾病等",
        "Other severe medical or surgical disease",
        cond("other_high_risk"),
    ),
    (
        "R2.1",
        "red",
        "complication",
        "三胎及以上妊娠伴发心肺功能减退",
        "Triplet or higher-order pregnancy with cardiopulmonary compromise",
        cond("triplets_cardiopulmonary"),
    ),
    (
        "R2.2a",
        "red",
        "complication",
        "凶险性前置胎盘",
        "Placenta praevia with placenta accreta spectrum (pernicious placenta praevia)",
        cond("pernicious_placenta_praevia"),
    ),
    ("R2.2b", "red", "complication", "胎盘早剥", "Placental abruption", cond("placental_abruption")),
    (
        "R2.3",
        "red",
        "complication",
        "红色预警范畴疾病产后尚未稳定",
        "Red-category disease not yet stable after delivery",
        cond("red_disease_unstable_postpartum"),
    ),
    # --- purple: infectious disease -------------------------------------------------------------
    ("P1.1", "purple", "infection", "HIV感染及艾滋病", "HIV infection or AIDS", fact("hiv", "==", "positive")),
    ("P1.2", "purple", "infection", "梅毒", "Syphilis", fact("syphilis", "==", "positive")),
    (
        "P1.3",
        "purple",
        "infection",
        "病毒性肝炎（乙型肝炎表面抗原阳性）",
        "Viral hepatitis B (HBsAg positive)",
        fact("hbsag", "==", "positive"),
    ),
    ("P1.4", "purple", "infection", "其他病毒性肝炎", "Other viral hepatitis", cond("viral_hepatitis_other")),
    ("P1.5", "purple", "infection", "结核病", "Tuberculosis", cond("tuberculosis")),
    (
        "P1.6",
        "purple",
        "infection",
        "重症感染性肺炎",
        "Severe infectious pneumonia",
        cond("severe_infectious_pneumonia"),
    ),
    (
        "P1.7",
        "purple",
        "infection",
        "特殊病毒感染（H1N7、寨卡等）",
        "Special viral infection (H1N7, Zika…)",
        cond("special_viral_infection"),
    ),
]


def install(apps, schema_editor):
    table_model = apps.get_model("maternal", "RiskRuleTable")
    rule_model = apps.get_model("maternal", "RiskRule")
    table_model.objects.filter(is_active=True).update(is_active=False)
    table = table_model.objects.create(
        version=VERSION,
        name="孕产妇妊娠风险评估表（2017）",
        source="国卫办妇幼发〔2017〕35号 孕产妇妊娠风险评估与管理工作规范，附件2 孕产妇妊娠风险评估表；身高见附件1 筛查表",
        effective_from=date(2017, 7, 1),
        is_active=True,
    )
    rule_model.objects.bulk_create(
        rule_model(
            table=table, position=i, code=code, colour=colour, section=section, label_zh=zh, label_en=en, predicate=p
        )
        for i, (code, colour, section, zh, en, p) in enumerate(RULES)
    )


def uninstall(apps, schema_editor):
    apps.get_model("maternal", "RiskRuleTable").objects.filter(version=VERSION).delete()


class Migration(migrations.Migration):
    dependencies = [("maternal", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
